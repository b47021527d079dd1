"""The schema built on sqlite-utils equals the one the previous, hand-written builder made.

``tests/fixtures/store_schema_v4.json`` holds every statement each migration ran before the
store moved onto sqlite-utils. Databases built from it stand in for users' existing files.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from datasette.utils import detect_fts
from sqlite_utils import Database

from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.store.db import Store
from bbmirror.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES, migrate

FIXTURE = Path(__file__).parent / "fixtures" / "store_schema_v4.json"
OLD = json.loads(FIXTURE.read_text())["migrations"]


def _old_db(path: Path, version: int) -> sqlite3.Connection:
    """A database as the previous release left it at ``version`` (its own SQL, replayed)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for migration in OLD[:version]:
        for stmt in migration["sql"]:
            conn.execute(stmt)
        conn.execute(
            "INSERT INTO _migrations VALUES (?, ?, '2026-01-01')",
            (migration["version"], migration["name"]),
        )
    conn.execute("COMMIT")
    return conn


def _normal(sql: str | None) -> str | None:
    """SQL text without identifier quoting and layout, which sqlite-utils writes differently."""
    if sql is None:
        return None
    sql = re.sub(r'[\[\]"]', "", sql)
    sql = re.sub(r"\s+", " ", sql)
    sql = re.sub(r"\s*([(),;])\s*", r"\1", sql)
    return sql.strip().rstrip(";")


def _describe(conn: sqlite3.Connection) -> dict:
    """Everything that makes up a schema: objects, columns, keys, indexes, FTS, views, triggers."""
    objects = sorted(
        (t, n, tbl, _normal(sql))
        for t, n, tbl, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
    )
    tables: dict[str, dict] = {}
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        indexes = sorted(conn.execute(f"PRAGMA index_list([{name}])").fetchall(), key=str)
        tables[name] = {
            "columns": conn.execute(f"PRAGMA table_xinfo([{name}])").fetchall(),
            "foreign_keys": sorted(conn.execute(f"PRAGMA foreign_key_list([{name}])"), key=str),
            "indexes": [
                (ix[1:], conn.execute(f"PRAGMA index_xinfo([{ix[1]}])").fetchall())
                for ix in indexes
            ],
        }
    return {"objects": objects, "tables": tables}


FIXTURE_VERSION = 4  # the last version the previous release's fixture holds
LATER = {name for name, t in TABLES.items() if t.since > FIXTURE_VERSION}
# version 7 and 10, hand-written (bbmirror.store.history, history_implicit)
HISTORY = {
    "row_versions",
    "_history_run",
    "row_versions_stored",
    "_history_meta",
    "_history_spans",
    "_history_prunes",
}
LATER_VIEWS = {name for m in MIGRATIONS if m.version > FIXTURE_VERSION for name, _ in m.views}


def _up_to_fixture(described: dict) -> dict:
    """The schema without the tables added after the fixture (later migrations only add), nor
    the local-history triggers (version 7) they add to older tables."""
    return {
        "objects": [
            o
            for o in described["objects"]
            if o[2] not in LATER | HISTORY | LATER_VIEWS
            and not (o[0] == "trigger" and o[1].startswith("history_"))
        ],
        "tables": {k: v for k, v in described["tables"].items() if k not in LATER | HISTORY},
    }


DROPPED = {name for m in MIGRATIONS for name in m.drop_indexes}


def _without_dropped(described: dict) -> dict:
    """The fixture's schema without the indexes later migrations drop."""
    return {
        "objects": [o for o in described["objects"] if o[1] not in DROPPED],
        "tables": {
            name: {**t, "indexes": [ix for ix in t["indexes"] if ix[0][0] not in DROPPED]}
            for name, t in described["tables"].items()
        },
    }


def test_the_fixture_is_the_previous_release_up_to_the_current_version():
    assert [m["version"] for m in OLD] == [m.version for m in MIGRATIONS][:4] == [1, 2, 3, 4]
    assert SCHEMA_VERSION == 11
    delivery = {"pipelines", "pipeline_steps", "environments", "deployments"}
    delivery |= {"pullrequest_files", "pullrequest_tasks", "insight_reports", "insight_annotations"}
    assert {"default_reviewers", "repository_labels"} | delivery == LATER
    assert {"pullrequests_json", "comments_json", "pullrequest_activity_json"} <= LATER_VIEWS


def test_a_new_database_has_the_schema_the_previous_release_built(tmp_path):
    old = _old_db(tmp_path / "old.db", FIXTURE_VERSION)
    with Store.open(tmp_path / "new.db") as store:
        full = _describe(store.conn)
    new = _up_to_fixture(full)
    before = _without_dropped(_describe(old))
    assert new["objects"] == before["objects"]
    assert new["tables"] == before["tables"]
    assert len(before["tables"]) > len(TABLES) - len(LATER)  # FTS shadow tables are compared too
    assert set(full["tables"]) >= LATER


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_an_old_database_migrates_to_the_same_schema(tmp_path, version):
    old = _old_db(tmp_path / "old.db", version)
    old.execute(
        "INSERT INTO pullrequests (id, source, title, state, json) VALUES"
        " ('r/1', 'c', 'flaky login fixed', 'OPEN', '{}')"
    )
    assert migrate(old) == SCHEMA_VERSION - version
    with Store.open(tmp_path / "reference.db") as store:
        reference = _describe(store.conn)
    assert _describe(old) == reference
    fixture = _without_dropped(_describe(_old_db(tmp_path / "v4.db", FIXTURE_VERSION)))
    assert _up_to_fixture(reference) == fixture
    assert DROPPED and not DROPPED & {o[1] for o in reference["objects"]}
    hit = old.execute("SELECT rowid FROM pullrequests_fts WHERE pullrequests_fts MATCH 'flaky'")
    assert hit.fetchall() == [(1,)]


def test_sqlite_utils_and_datasette_see_the_search_indexes(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        store.write(
            cloud_rows.pullrequest(
                {"id": 7, "title": "Speed up the mirror", "state": "OPEN"},
                source="c",
                repository_id="{r}",
            )
        )
        db = Database(store.conn, recursive_triggers=False, execute_plugins=False)
        found = {t: db.table(t).detect_fts() for t, spec in TABLES.items() if spec.fts}
        assert found == {t: f"{t}_fts" for t, spec in TABLES.items() if spec.fts}
        assert {t: detect_fts(store.conn, t) for t in found} == found
        assert [r["title"] for r in db.table("pullrequests").search("mirror")] == [
            "Speed up the mirror"
        ]


def test_every_foreign_key_column_leads_an_index(tmp_path):
    """What index_foreign_keys promises, kept without its redundant single-column copies."""
    with Store.open(tmp_path / "m.db") as store:
        db = Database(store.conn, recursive_triggers=False, execute_plugins=False)
        for name in TABLES:
            leading = {ix.columns[0] for ix in db.table(name).indexes}
            assert {fk.column for fk in db.table(name).foreign_keys} <= leading, name
