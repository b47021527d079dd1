"""Schema 10: insert versions computed from the rows, not stored, and nothing else changes.

Each test drives a store at schema 10 and one left at schema 9 (every version stored by the
schema 7 triggers) with the same writes, on real files, and compares ``row_versions``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_history import REPO
from test_history import pr as open_pr
from test_history_changes import as_of_through_the_view

from bbmirror.store import Store
from bbmirror.store import history as h
from bbmirror.store.history_implicit import STORED
from bbmirror.store.runlog import now
from bbmirror.store.schema import MIGRATIONS, SCHEMA_VERSION, _apply, database

OLD_DAY = "2020-01-01T00:00:00.000000+00:00"
ALL = "SELECT * FROM row_versions ORDER BY table_name, row_id, seq"


def _store_at_9(path: Path, *, spans: bool = True) -> Store:
    """A store whose database stops at schema 9 (with ``_history_spans`` if ``spans``: the
    schema 10 ``set_run`` notes runs there, which schema 9 ignores)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db = database(conn)
    conn.execute("BEGIN")
    conn.execute(
        "CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for migration in MIGRATIONS[:9]:
        _apply(db, migration)
        conn.execute(
            "INSERT INTO _migrations VALUES (?, ?, ?)", (migration.version, migration.name, now())
        )
    if spans:
        conn.execute("CREATE TABLE _history_spans (run_id INTEGER PRIMARY KEY, began, ended)")
    conn.execute("COMMIT")
    return Store(conn, str(path), readonly=False)


def pr(number: int = 1, **values) -> dict:
    """test_history's pull request row, MERGED unless told otherwise."""
    return open_pr(number, **{"state": "MERGED", **values})


def activity(n: int, **values) -> dict:
    row = {
        "id": f"{REPO}/pr/1/activity/{n}",
        "source": "c",
        "pullrequest_id": f"{REPO}/pr/1",
        "repository_id": REPO,
        "kind": "update",
        "state": "MERGED",
        "date": f"2026-01-0{n}T12:00:00.000000+00:00",
        "json": "{}",
    }
    return {**row, **values}


def branch(name: str, target: str = "a" * 40, **values) -> dict:
    row = {"id": f"{REPO}/branch/{name}", "source": "c", "repository_id": REPO, "name": name}
    return {**row, "target_hash": target, "json": "{}", **values}


def both(stores: list[Store], rowset: dict, *, stamp: str | None = None) -> None:
    """The same write, with the same ``synced_at``, into every store."""
    stamp = stamp or now()
    for store in stores:
        store.write(rowset, synced_at=stamp)


@pytest.fixture
def stores(tmp_path):
    old = _store_at_9(tmp_path / "nine.db")
    new = Store.open(tmp_path / "ten.db")
    yield [old, new]
    old.close()
    new.close()


def test_versions_read_the_same_as_when_every_insert_was_stored(stores):
    old, new = stores
    assert (old.schema_version, new.schema_version) == (9, SCHEMA_VERSION)
    both(stores, {"pullrequests": [pr()]}, stamp=OLD_DAY)  # outside a run
    runs = [s.start_run("c", {}) for s in stores]
    both(stores, {"pullrequests": [pr(2), pr(3)], "branches": [branch("main"), branch("dev")]})
    both(stores, {"pullrequest_activity": [activity(1)]})  # derives pr 1's closed_on
    both(stores, {"branches": [branch("dev", json='{"links": 1}')]})  # json only
    both(stores, {"pullrequests": [pr(2, title="second")]})
    gone = now()
    for store, run in zip(stores, runs, strict=True):
        store.tombstone_ids("branches", [f"{REPO}/branch/main"], gone)
        store.finish_run(run, "ok", {}, 0, 0, None)
    runs = [s.start_run("c", {}) for s in stores]
    both(stores, {"branches": [branch("main"), branch("new")]})  # a revive and an insert
    for store, run in zip(stores, runs, strict=True):
        store.finish_run(run, "ok", {}, 0, 0, None)
    both(stores, {"pullrequests": [pr(3, title="edited outside a run")]})
    want = old.conn.execute(ALL).fetchall()
    assert {v[5] for v in want} == {"insert", "update", "tombstone", "revive"}
    assert {v[3] for v in want} == {None, 1, 2}  # runs and writes outside them
    assert new.conn.execute(ALL).fetchall() == want
    kept = dict(new.conn.execute(f"SELECT kind, count(*) FROM {STORED} GROUP BY kind"))
    assert kept["insert"] < sum(v[5] == "insert" for v in want)  # unchanged rows: computed
    assert h.versions(new.conn, "pullrequests", f"{REPO}/pr/2") == h.versions(
        old.conn, "pullrequests", f"{REPO}/pr/2"
    )
    for table in ("pullrequests", "branches"):
        sql = h.as_of_sql(table)  # schema 9 has no row_versions_stored: its versions instead
        for date in (OLD_DAY, "2026-01-01T11:00:00", now()):
            params = {"date": date, "repository_id": None}
            assert sorted(new.conn.execute(sql, params).fetchall(), key=str) == sorted(
                as_of_through_the_view(old.conn, table, date, None), key=str
            )


def test_a_first_write_stores_no_version(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        store.write({"pullrequests": [pr(n) for n in range(1, 50)]})
        assert store.conn.execute(f"SELECT count(*) FROM {STORED}").fetchone() == (0,)
        assert store.conn.execute("SELECT count(*) FROM row_versions").fetchone() == (49,)


def test_a_schema_9_database_migrates_with_every_version_and_goes_on(tmp_path):
    old = _store_at_9(tmp_path / "m.db", spans=False)
    old.write({"pullrequests": [pr(), pr(2)]}, synced_at=OLD_DAY)
    old.write({"pullrequests": [pr(title="second")]}, synced_at=now())
    before = old.conn.execute(ALL).fetchall()
    old.close()
    with Store.open(tmp_path / "m.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.conn.execute(ALL).fetchall() == before
        store.write({"pullrequests": [pr(2, title="b")]})
        store.write({"pullrequests": [pr(3)]})
        assert [v["kind"] for v in h.versions(store.conn, "pullrequests", pr(2)["id"])] == [
            "insert",
            "update",
        ]
        assert [v["version"] for v in h.versions(store.conn, "pullrequests", pr()["id"])] == [1, 2]
        assert len(h.versions(store.conn, "pullrequests", pr(3)["id"])) == 1


def test_a_row_from_before_history_gets_no_insert_when_only_its_json_changes(tmp_path):
    old = _store_at_9(tmp_path / "m.db", spans=False)
    old.write({"pullrequests": [pr()]}, synced_at=OLD_DAY)
    old.conn.execute("DELETE FROM row_versions")  # as if mirrored before history began
    old.close()
    with Store.open(tmp_path / "m.db") as store:
        assert h.versions(store.conn, "pullrequests", pr()["id"]) == []
        store.write({"pullrequests": [pr(json='{"links": 1}')]})
        assert h.versions(store.conn, "pullrequests", pr()["id"]) == []
        store.write({"pullrequests": [pr(title="second")]})
        assert [v["kind"] for v in h.versions(store.conn, "pullrequests", pr()["id"])] == ["update"]


def test_prune_hides_computed_inserts_as_it_deleted_stored_ones(stores):
    old, new = stores
    both(stores, {"pullrequests": [pr(updated_on=OLD_DAY), pr(2)]})  # pr 2: dated 2026-01-01
    both(stores, {"pullrequests": [pr(2, title="b", updated_on="2099-01-01T00:00:00+00:00")]})
    today = datetime.now(UTC)
    cutoff = (today - timedelta(days=30)).isoformat(timespec="microseconds")
    gone = old.conn.execute("DELETE FROM row_versions WHERE observed_at < ?", (cutoff,))
    assert gone.rowcount == 2  # pr 1's insert and pr 2's
    with new.transaction():
        assert h.prune(new.conn, 30, today=today) == 2
    both(stores, {"pullrequests": [pr(3, updated_on=OLD_DAY)]})  # old, but written later
    both(stores, {"pullrequests": [pr(updated_on=OLD_DAY, json="[1]")]})  # json only, pruned
    assert new.conn.execute(ALL).fetchall() == old.conn.execute(ALL).fetchall()
    assert [v[1] for v in new.conn.execute(ALL)] == [pr(2)["id"], pr(3)["id"]]
