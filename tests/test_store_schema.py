"""The declared schema: migrations, keys, indexes and full-text search."""

from __future__ import annotations

import sqlite3

import pytest

from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.store.db import Store
from bbmirror.store.schema import (
    MIGRATIONS,
    MIRRORED,
    SCHEMA_VERSION,
    TABLES,
    Column,
    Migration,
    Table,
    current_version,
    migrate,
    migration_sql,
)

REPO = "{r}"


@pytest.fixture
def conn():
    c = sqlite3.connect(":memory:", isolation_level=None)
    migrate(c)
    yield c
    c.close()


def test_migrate_twice_is_a_no_op():
    c = sqlite3.connect(":memory:")
    assert migrate(c) == len(MIGRATIONS)
    before = c.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(c) == 0
    assert c.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == before
    recorded = c.execute("SELECT version, name, applied_at FROM _migrations").fetchall()
    assert [r[0] for r in recorded] == [m.version for m in MIGRATIONS]
    assert current_version(c) == SCHEMA_VERSION
    assert all(r[2].endswith("+00:00") for r in recorded)


def test_every_declared_table_and_column_exists(conn):
    for table in TABLES.values():
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info([{table.name}])")]
        assert cols == list(table.column_names), table.name


def test_every_mirrored_table_has_the_frame_and_a_single_text_key(conn):
    for name in MIRRORED:
        info = {r[1]: r for r in conn.execute(f"PRAGMA table_info([{name}])")}
        for col in ("id", "source", "json", "deleted_at", "synced_at"):
            assert col in info, (name, col)
        pk = [r for r in info.values() if r[5]]
        assert [(r[1], r[2]) for r in pk] == [("id", "TEXT")], name
    assert "origin" in {r[1] for r in conn.execute("PRAGMA table_info(issues)")}


def test_every_foreign_key_is_declared_and_indexed(conn):
    fk_columns = 0
    for name, table in TABLES.items():
        declared = {(r[3], r[2]) for r in conn.execute(f"PRAGMA foreign_key_list([{name}])")}
        assert declared == {(c.name, c.references) for c in table.foreign_keys}, name
        leading = set()
        for ix in conn.execute(f"PRAGMA index_list([{name}])"):
            first = conn.execute(f"PRAGMA index_info([{ix[1]}])").fetchone()
            leading.add(first[2])
        for column, _ in declared:
            fk_columns += 1
            assert column in leading, f"{name}.{column} has no index"
        for ref in (r[2] for r in conn.execute(f"PRAGMA foreign_key_list([{name}])")):
            assert ref in TABLES
    assert fk_columns > 40
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 0


def test_common_filters_are_indexed(conn):
    def indexed(table: str, *cols: str) -> bool:
        for ix in conn.execute(f"PRAGMA index_list([{table}])"):
            got = tuple(r[2] for r in conn.execute(f"PRAGMA index_info([{ix[1]}])"))
            if got[: len(cols)] == cols:
                return True
        return False

    for table in ("pullrequests", "issues"):
        for cols in (("state",), ("repository_id", "updated_on"), ("created_on",), ("number",)):
            assert indexed(table, *cols), (table, cols)
    assert indexed("pullrequests", "author_id")
    assert indexed("commits", "hash")
    assert indexed("users", "account_id")


def test_fts_finds_a_pr_by_a_description_word_and_follows_updates():
    store = Store.open(":memory:")
    pr = {
        "id": 7,
        "title": "Speed up parsing",
        "description": "uses a zebra cache",
        "state": "OPEN",
    }
    store.write(cloud_rows.pullrequest(pr, source="c", repository_id=REPO))

    def search(word: str) -> list[str]:
        return [
            r[0]
            for r in store.conn.execute(
                "SELECT p.id FROM pullrequests_fts f JOIN pullrequests p ON p.rowid = f.rowid"
                " WHERE pullrequests_fts MATCH ?",
                (word,),
            )
        ]

    assert search("zebra") == [f"{REPO}/pr/7"]
    store.write(
        cloud_rows.pullrequest(
            {**pr, "description": "uses a giraffe cache"}, source="c", repository_id=REPO
        )
    )
    assert search("zebra") == []
    assert search("giraffe") == [f"{REPO}/pr/7"]
    store.conn.execute("INSERT INTO pullrequests_fts (pullrequests_fts) VALUES ('integrity-check')")


def test_fts_tables_cover_the_searchable_text(conn):
    expected = {
        "pullrequests_fts": ["title", "description"],
        "issues_fts": ["title", "content"],
        "comments_fts": ["body"],
        "commits_fts": ["message"],
    }
    for fts, cols in expected.items():
        assert [r[1] for r in conn.execute(f"PRAGMA table_info([{fts}])")] == cols


def test_closed_on_is_derived_from_activity_in_either_order():
    store = Store.open(":memory:")
    merged = {"id": 1, "state": "MERGED", "title": "t"}
    update = {
        "update": {"state": "MERGED", "date": "2024-01-02T00:00:00Z"},
        "pull_request": {"id": 1},
    }
    store.write(cloud_rows.pr_activity(update, source="c", repository_id=REPO))
    store.write(cloud_rows.pullrequest(merged, source="c", repository_id=REPO))  # PR after activity
    closed = "SELECT closed_on FROM pullrequests WHERE number = ?"
    assert store.conn.execute(closed, (1,)).fetchone()[0] == "2024-01-02T00:00:00.000000+00:00"
    # a re-sync of the same PR object keeps it and is not counted as a change
    assert (
        store.write(cloud_rows.pullrequest(merged, source="c", repository_id=REPO))["pullrequests"]
        == 0
    )
    assert store.conn.execute(closed, (1,)).fetchone()[0] == "2024-01-02T00:00:00.000000+00:00"
    # activity after the PR
    store.write(
        cloud_rows.pullrequest(
            {**merged, "id": 2, "state": "DECLINED"}, source="c", repository_id=REPO
        )
    )
    declined = {
        "update": {"state": "DECLINED", "date": "2024-02-01T00:00:00Z"},
        "pull_request": {"id": 2},
    }
    store.write(cloud_rows.pr_activity(declined, source="c", repository_id=REPO))
    assert store.conn.execute(closed, (2,)).fetchone()[0] == "2024-02-01T00:00:00.000000+00:00"
    # an open PR never gets one
    store.write(
        cloud_rows.pullrequest({**merged, "id": 3, "state": "OPEN"}, source="c", repository_id=REPO)
    )
    assert store.conn.execute(closed, (3,)).fetchone()[0] is None
    for fts in ("pullrequests_fts", "comments_fts"):
        store.conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('integrity-check')")


def test_a_later_migration_adds_only_what_is_tagged_with_it(monkeypatch):
    """The `since` mechanism: a new column and table reach an older database, nothing else."""
    import bbmirror.store.schema as schema

    c = sqlite3.connect(":memory:")
    migrate(c)
    later = schema.SCHEMA_VERSION + 1
    users = TABLES["users"]
    tables = dict(TABLES)
    tables["users"] = Table(
        "users", users.columns + (Column("avatar_url", since=later),), users.indexes
    )
    tables["test_links"] = Table(
        "test_links",
        (Column("pullrequest_id", references="pullrequests", since=later),),
        since=later,
    )
    monkeypatch.setattr(schema, "TABLES", tables)
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS + (Migration(later, "test"),))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", later)
    sql = migration_sql(Migration(later, "test"))
    assert any('ADD COLUMN "avatar_url"' in s for s in sql)
    assert any(s.startswith('CREATE TABLE "test_links"') for s in sql)
    assert not any('"pullrequests" (' in s and s.startswith("CREATE TABLE") for s in sql)
    assert schema.migrate(c) == 1
    assert "avatar_url" in [r[1] for r in c.execute("PRAGMA table_info(users)")]
    assert c.execute("PRAGMA index_list(test_links)").fetchall()
    assert schema.migrate(c) == 0


def test_a_later_foreign_key_column_keeps_the_tables_search_index(monkeypatch):
    """A column with REFERENCES is added in place: the FTS triggers and rowids survive."""
    import bbmirror.store.schema as schema

    c = sqlite3.connect(":memory:", isolation_level=None)
    migrate(c)
    c.execute(
        "INSERT INTO pullrequests (id, source, title, state, json)"
        " VALUES ('r/1', 'c', 'flaky login', 'OPEN', '{}')"
    )
    later = schema.SCHEMA_VERSION + 1
    prs = TABLES["pullrequests"]
    added = Column("reviewer_id", references="users", since=later)
    tables = dict(TABLES)
    tables["pullrequests"] = Table("pullrequests", prs.columns + (added,), prs.indexes, prs.fts)
    monkeypatch.setattr(schema, "TABLES", tables)
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS + (Migration(later, "test"),))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", later)
    assert schema.migrate(c) == 1
    fks = {r[3]: r[2] for r in c.execute("PRAGMA foreign_key_list(pullrequests)")}
    assert fks["reviewer_id"] == "users"
    assert c.execute("PRAGMA index_info(idx_pullrequests_reviewer_id)").fetchall()
    c.execute("UPDATE pullrequests SET title = 'sturdy login' WHERE id = 'r/1'")
    match = "SELECT rowid FROM pullrequests_fts WHERE pullrequests_fts MATCH ?"
    assert c.execute(match, ("sturdy",)).fetchall() == [(1,)]
    assert c.execute(match, ("flaky",)).fetchall() == []


def test_a_later_table_transform_keeps_triggers_search_indexes_and_views(monkeypatch):
    """sqlite-utils' transform copies the table; its triggers are put back, rowids are kept."""
    import bbmirror.store.schema as schema

    c = sqlite3.connect(":memory:", isolation_level=None)
    migrate(c)
    c.execute(
        "INSERT INTO pullrequests (id, source, title, state, comment_count, json)"
        " VALUES ('r/1', 'c', 'flaky login', 'MERGED', 3, '{}')"
    )
    before = c.execute(
        "SELECT type, name FROM sqlite_master WHERE tbl_name = 'pullrequests' ORDER BY name"
    ).fetchall()
    later = schema.SCHEMA_VERSION + 1
    change = Migration(later, "test", transforms=(("pullrequests", {"types": {"draft": "TEXT"}}),))
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS + (change,))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", later)
    assert schema.migrate(c) == 1
    types = {r[1]: r[2] for r in c.execute("PRAGMA table_info(pullrequests)")}
    assert types["draft"] == "TEXT" and types["comment_count"] == "INTEGER"
    after = c.execute(
        "SELECT type, name FROM sqlite_master WHERE tbl_name = 'pullrequests' ORDER BY name"
    ).fetchall()
    assert after == before  # FTS triggers and every index are back
    c.execute("UPDATE pullrequests SET title = 'sturdy login' WHERE id = 'r/1'")
    match = "SELECT rowid FROM pullrequests_fts WHERE pullrequests_fts MATCH ?"
    assert c.execute(match, ("sturdy",)).fetchall() == [(1,)]
    assert c.execute(match, ("flaky",)).fetchall() == []
    c.execute(
        "INSERT INTO pullrequest_activity (id, source, pullrequest_id, kind, state, date, json)"
        " VALUES ('a/1', 'c', 'r/1', 'update', 'MERGED', '2026-01-02T00:00:00', '{}')"
    )
    merged = c.execute("SELECT closed_on FROM pullrequest_metrics WHERE id = 'r/1'").fetchone()
    assert merged == ("2026-01-02T00:00:00",)
