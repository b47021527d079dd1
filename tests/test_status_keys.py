"""Build statuses are keyed by commit + key, and old databases migrate to that key (issue 12.1)."""

from __future__ import annotations

import sqlite3

from bbmirror.store import schema
from bbmirror.store.schema import MIGRATIONS, migrate, migration_sql

COMMIT = "r1/abc"


def _db_at(version: int) -> sqlite3.Connection:
    """A database built by the migrations up to ``version`` only (an older bbmirror's file)."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for migration in MIGRATIONS:
        if migration.version > version:
            break
        for stmt in migration_sql(migration):
            conn.execute(stmt)
        conn.execute(
            "INSERT INTO _migrations VALUES (?, ?, '2026-01-01')",
            (migration.version, migration.name),
        )
    return conn


def _status(conn, id_: str, key: str, updated: str, commit: str = COMMIT) -> None:
    conn.execute(
        "INSERT INTO commit_statuses (id, source, commit_id, repository_id, commit_hash, key,"
        " state, updated_on, json) VALUES (?, 's', ?, 'r1', 'abc', ?, 'SUCCESSFUL', ?, '{}')",
        (id_, commit, key, updated),
    )


def test_old_status_rows_take_the_commit_and_key_and_duplicates_are_tombstoned():
    conn = _db_at(3)
    _status(conn, "{uuid-old}", "CI", "2020-01-01T00:00:00.000000+00:00")
    _status(conn, "{uuid-new}", "CI", "2020-02-01T00:00:00.000000+00:00")
    _status(conn, f"{COMMIT}/build/LINT", "LINT", "2020-01-01T00:00:00.000000+00:00")
    conn.commit()
    assert migrate(conn) == len(MIGRATIONS) - 3
    rows = dict(conn.execute("SELECT id, updated_on FROM commit_statuses WHERE deleted_at IS NULL"))
    assert rows == {
        f"{COMMIT}/status/CI": "2020-02-01T00:00:00.000000+00:00",  # the newest one wins
        f"{COMMIT}/status/LINT": "2020-01-01T00:00:00.000000+00:00",
    }
    dead = conn.execute("SELECT id FROM commit_statuses WHERE deleted_at IS NOT NULL").fetchall()
    assert dead == [("{uuid-old}",)]  # kept, as a tombstone: nothing is deleted
    assert schema.current_version(conn) == schema.SCHEMA_VERSION
