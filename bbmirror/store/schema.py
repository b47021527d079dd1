"""The numbered migrations that build the schema of ``bbmirror.store.tables`` with sqlite-utils.

How migrations work: every table, column and index in ``TABLES`` carries ``since``, the schema
version that introduced it. Migration N creates the tables (sqlite-utils ``create_table`` with
primary keys, foreign keys and NOT NULL, then ``enable_fts`` with its triggers), adds the
columns (``add_column``; ``ALTER TABLE`` for a foreign-key column) and builds the
indexes (``create_index``) whose ``since`` is N, then the table transforms (sqlite-utils
``transform``, for what ``ALTER TABLE`` cannot do), drops the indexes it names, builds the
indexes and views it names, then its hand-written ``extra`` SQL (``bbmirror.store.hand_sql``:
triggers that derive values and data fixes, which sqlite-utils has no equivalent for). To
change the schema: append a ``Migration`` and tag what it adds with its version; never edit
an applied migration.

``tests/fixtures/store_schema_v4.json`` keeps the SQL the previous, hand-written builder ran;
tests check that both build the same schema, and that its old databases migrate to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import quote_identifier

from bbmirror.store import history, history_implicit
from bbmirror.store.hand_sql import (
    CLOSED_ON_TRIGGERS,
    PULLREQUEST_SIZES,
    REPORT_VIEWS,
    REVIEWS_INDEX,
    STATUS_KEYS,
)
from bbmirror.store.slim import COPIES, REFS, view_sql
from bbmirror.store.tables import (
    AFTER_WRITE,
    MIRRORED,
    ON_CONFLICT,
    TABLES,
    Column,
    Index,
    StoreError,
    Table,
)

__all__ = [
    "AFTER_WRITE",
    "MIGRATIONS",
    "MIRRORED",
    "ON_CONFLICT",
    "SCHEMA_VERSION",
    "TABLES",
    "Column",
    "Index",
    "Migration",
    "StoreError",
    "Table",
    "current_version",
    "migrate",
    "migration_sql",
]


@dataclass(frozen=True)
class Migration:
    """One schema version: the declared objects tagged with it, its indexes and views, ``extra``."""

    version: int
    name: str
    extra: tuple[str, ...] = ()
    indexes: tuple[tuple[str, tuple[str, ...], str], ...] = ()  # (table, columns, index name)
    views: tuple[tuple[str, str], ...] = ()  # (view name, SELECT ...)
    transforms: tuple[tuple[str, dict[str, Any]], ...] = ()  # (table, Table.transform kwargs)
    drop_indexes: tuple[str, ...] = ()  # indexes no query uses, dropped (by name)


# ``<table>_json``: each slimmed table with its whole JSON (``bbmirror.store.slim``); the
# tables others refer to (comments, commits) first, as the views of those read theirs. A
# change to ``slim.COPIES`` or ``slim.REFS`` needs a migration that replaces these views
# (``create_view(..., replace=True)``).
SLIM_VIEWS: tuple[tuple[str, str], ...] = tuple(
    (f"{name}_json", view_sql(name, TABLES[name].column_names))
    for name in sorted(COPIES, key=lambda n: n not in {r.target for r in REFS.values()})
)

# Indexes that no query needs: a PR's activity is found through the reviews index, which
# starts with pullrequest_id; a commit's children through parent_id (Datasette follows that
# foreign key), and the garbage collector walks parents by the rows' ids.
UNUSED_INDEXES = ("idx_pullrequest_activity_pullrequest_id", "idx_commit_parents_parent_hash")
# No report, sync query (EXPLAIN QUERY PLAN of every statement a sync runs) or Datasette default
# sort or facet uses these: PRs holding a commit are found by commit_id, and commit authors by
# author_id (1.1 MB of a medium mirror).
UNUSED_INDEXES_10 = ("idx_pullrequest_commits_hash", "idx_commits_author_email")

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", extra=CLOSED_ON_TRIGGERS),
    Migration(
        2,
        "report views and index",
        indexes=(("pullrequest_activity", REVIEWS_INDEX, "idx_pullrequest_activity_reviews"),),
        views=REPORT_VIEWS,
    ),
    Migration(3, "Jira issue keys linked to pull requests and commits"),
    Migration(4, "build statuses keyed by commit and key", extra=STATUS_KEYS),
    Migration(5, "Cloud repository default reviewers"),
    Migration(6, "Data Center repository labels"),
    Migration(7, "local history of mirrored rows", extra=history.MIGRATION_SQL),
    Migration(
        8,
        "views giving back the JSON that columns hold; two unused indexes dropped",
        views=SLIM_VIEWS,
        drop_indexes=UNUSED_INDEXES,
    ),
    Migration(
        9,
        "delivery analytics: pipelines, deployments, environments, PR files and tasks,"
        " code insights",
    ),
    Migration(
        10,
        "local history without the insert versions its rows hold (row_versions becomes a view);"
        " two unused indexes dropped",
        extra=history.IMPLICIT_SQL,
        drop_indexes=UNUSED_INDEXES_10,
    ),
    Migration(
        11,
        "a view of each pull request's size; run spans indexed by start, and the row_versions"
        " view rebuilt as it is now",
        # set_run adds a span per run and every computed insert's run is looked up by began;
        # the view as schema 10 wrote it found that run in each arm, so count(*) paid for it.
        indexes=(("_history_spans", ("began",), "idx_history_spans_began"),),
        views=PULLREQUEST_SIZES,
        extra=history_implicit.view_sql(11),
    ),
)
SCHEMA_VERSION: int = MIGRATIONS[-1].version

_WRITES = ("CREATE", "ALTER", "INSERT", "UPDATE", "DELETE", "DROP")


def database(conn: sqlite3.Connection, tracer: Callable | None = None) -> Database:
    """sqlite-utils over our connection, leaving its settings (recursive triggers) alone."""
    return Database(conn, recursive_triggers=False, execute_plugins=False, tracer=tracer)


def _create_table(db: Database, table: Table, version: int) -> None:
    """CREATE TABLE with keys and NOT NULLs as declared, then its full-text index and triggers."""
    cols = [c for c in table.all_columns if c.since <= version]
    pk = table.primary_key[0] if len(table.primary_key) == 1 else table.primary_key
    not_null = {c.name for c in cols if table.mirrored and c.name in ("source", "json")}
    types = {c.name: c.type for c in cols}
    if isinstance(pk, str) and types[pk] != "INTEGER":
        not_null.add(pk)
    fks = [(c.name, c.references, "id") for c in cols if c.references]
    if isinstance(pk, str) and types[pk] == "INTEGER":
        # create_table has no AUTOINCREMENT (run ids must never be reused); its SQL builder does.
        db.execute(
            db.create_table_sql(table.name, types, pk=pk, foreign_keys=fks, _autoincrement=pk)
        )
    else:
        db.create_table(table.name, types, pk=pk, foreign_keys=fks, not_null=not_null)
    if table.fts:
        db.table(table.name).enable_fts(table.fts, create_triggers=True)


def _in_reference_order(tables: list[Table]) -> list[Table]:
    """Tables ordered so each one's foreign keys point at tables created before it."""
    pending, ordered = list(tables), []
    done = set(TABLES) - {t.name for t in tables}
    while pending:
        ready = [t for t in pending if all(c.references in done | {t.name} for c in t.foreign_keys)]
        if not ready:
            raise StoreError(f"foreign keys form a cycle among {[t.name for t in pending]}")
        for t in ready:
            pending.remove(t)
            done.add(t.name)
            ordered.append(t)
    return ordered


def _apply(db: Database, migration: Migration) -> None:
    """Build everything migration ``migration.version`` adds, in the connection's transaction."""
    v = migration.version
    new = [t for t in TABLES.values() if t.since == v]
    for table in _in_reference_order(new):
        _create_table(db, table, v)
    for table in TABLES.values():
        if table.since < v:
            for col in table.all_columns:
                if col.since == v and col.references:
                    # add_column(fk=) copies the table (transform), dropping its FTS triggers and
                    # rewriting every row; SQLite adds a column with REFERENCES in place.
                    db.execute(
                        f"ALTER TABLE {quote_identifier(table.name)} ADD COLUMN"
                        f" {quote_identifier(col.name)} {col.type}"
                        f" REFERENCES {quote_identifier(col.references)}({quote_identifier('id')})"
                    )
                elif col.since == v:
                    db.table(table.name).add_column(col.name, col.type)
        for ix in table.all_indexes():
            if ix.since == v or (table.since == v and ix.since < v):
                db.table(table.name).create_index(ix.columns, index_name=ix.name(table.name))
    for index_name in migration.drop_indexes:
        db.execute(f"DROP INDEX IF EXISTS {quote_identifier(index_name)}")
    for name, changes in migration.transforms:
        _transform(db, name, changes)
    for name, columns, index_name in migration.indexes:
        db.table(name).create_index(columns, index_name=index_name)
    for name, select in migration.views:
        db.create_view(name, select)
    for stmt in migration.extra:
        db.execute(stmt)
    if v > history.SINCE:  # history triggers name their columns: rebuild them for new ones
        grown = [
            t for t in TABLES.values() if t.mirrored and any(c.since == v for c in t.all_columns)
        ]
        for table in grown:
            for stmt in history.trigger_sql(table, v):
                db.execute(stmt)
        if grown and v > history_implicit.SINCE:  # so does the view of computed inserts
            for stmt in history_implicit.view_sql(v):
                db.execute(stmt)


def _transform(db: Database, name: str, changes: dict[str, Any]) -> None:
    """sqlite-utils' transform keeps rowids and indexes (so FTS stays valid) but drops triggers."""
    triggers = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [name]
    ).fetchall()
    db.table(name).transform(**changes)
    for (sql,) in triggers:
        db.execute(sql)


def _statements(script: str) -> list[str]:
    """Split a script sqlite-utils ran in one call into single statements."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out + ([buf.strip()] if buf.strip() else [])


def migration_sql(migration: Migration) -> list[str]:
    """Every write statement a migration runs, in order, traced on a scratch database."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("BEGIN")
        for earlier in MIGRATIONS:
            if earlier.version < migration.version:
                _apply(database(conn), earlier)
        traced: list[str] = []
        _apply(database(conn, lambda sql, params: traced.extend(_statements(sql))), migration)
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    return [s for s in traced if s.split(None, 1)[0].upper() in _WRITES]


def current_version(conn: sqlite3.Connection) -> int:
    """The highest migration recorded in the database (0 for a new one); read-only."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if not found:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM _migrations").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction; return how many were applied.

    Safe to run concurrently: each migration re-checks the version after taking the write lock.
    Raises StoreError when the database is newer than this code.
    """
    have = current_version(conn)
    if have > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {have}, newer than this bbmirror understands"
            f" ({SCHEMA_VERSION}); upgrade bbmirror"
        )
    if have == SCHEMA_VERSION:
        return 0
    saved, conn.isolation_level = conn.isolation_level, None
    db = database(conn)
    applied = 0
    try:
        for migration in MIGRATIONS:
            if migration.version <= have:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                db.create_table(
                    "_migrations",
                    {"version": "INTEGER", "name": "TEXT", "applied_at": "TEXT"},
                    pk="version",
                    not_null={"name", "applied_at"},
                    if_not_exists=True,
                )
                if current_version(conn) >= migration.version:
                    conn.execute("COMMIT")
                    continue
                _apply(db, migration)
                conn.execute(
                    "INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (
                        migration.version,
                        migration.name,
                        datetime.now(UTC).isoformat(timespec="microseconds"),
                    ),
                )
                conn.execute("COMMIT")
                applied += 1
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    finally:
        conn.isolation_level = saved
    return applied
