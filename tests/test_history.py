"""Local history (issue 16): every change of a mirrored row kept as a version, on a real file."""

from __future__ import annotations

import sqlite3

import pytest

from bbmirror.store import Store
from bbmirror.store import history as h

REPO = "{repo}"
T0 = "2026-01-01T00:00:00.000000+00:00"
DAY2 = "2026-01-02T00:00:00.000000+00:00"


def pr(number: int = 1, **values) -> dict:
    row = {
        "id": f"{REPO}/pr/{number}",
        "source": "c",
        "repository_id": REPO,
        "number": number,
        "title": "first",
        "state": "OPEN",
        "updated_on": "2026-01-01T10:00:00.000000+00:00",
        "json": "{}",
    }
    return {**row, **values}


def kinds(store: Store, table: str = "pullrequests", key: str = f"{REPO}/pr/1") -> list[str]:
    return [v["kind"] for v in h.versions(store.conn, table, key)]


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "m.db") as s:
        yield s


def test_each_change_writes_one_version_with_the_previous_values(store):
    store.write({"pullrequests": [pr()]}, synced_at=T0)
    store.write({"pullrequests": [pr()]}, synced_at=T0)  # identical: nothing
    store.write({"pullrequests": [pr(json='{"links": 1}')]}, synced_at=T0)  # json only: nothing
    assert kinds(store) == ["insert"]
    store.write(
        {"pullrequests": [pr(title="second", updated_on="2026-01-02T00:00:00.000000+00:00")]},
        synced_at="2026-11-01T00:00:00.000000+00:00",
    )
    last = h.versions(store.conn, "pullrequests", f"{REPO}/pr/1")[-1]
    assert last["kind"] == "update"
    assert last["changed"] == {"title": "first", "updated_on": "2026-01-01T10:00:00.000000+00:00"}
    assert last["observed_at"] == "2026-01-02T00:00:00.000000+00:00"  # the server's time
    store.tombstone("pullrequests", {"repository_id": REPO}, [], "2026-11-02T00:00:00Z")
    store.write({"pullrequests": [pr(title="second", updated_on=last["observed_at"])]})
    assert kinds(store) == ["insert", "update", "tombstone", "revive"]
    gone, back = h.versions(store.conn, "pullrequests", f"{REPO}/pr/1")[2:]
    assert gone["changed"] == {"deleted_at": None}
    assert gone["observed_at"] == "2026-11-02T00:00:00.000000+00:00"
    assert back["changed"] == {"deleted_at": "2026-11-02T00:00:00.000000+00:00"}


def test_a_change_that_leaves_updated_on_alone_is_dated_by_the_write(store):
    store.write({"pullrequests": [pr()]}, synced_at=T0)
    store.write({"pullrequests": [pr(comment_count=3)]}, synced_at="2026-11-03T00:00:00Z")
    assert h.versions(store.conn, "pullrequests", f"{REPO}/pr/1")[-1]["observed_at"] == (
        "2026-11-03T00:00:00Z"
    )


def test_versions_name_the_run_in_progress_and_none_outside_one(store):
    store.acquire_writer_lock()
    run = store.start_run("c", {})
    store.write({"pullrequests": [pr()]})
    store.finish_run(run, "ok", {}, 0, 0, None)
    store.write({"pullrequests": [pr(title="edited outside a run")]})
    assert [v["run_id"] for v in h.versions(store.conn, "pullrequests", f"{REPO}/pr/1")] == [
        run,
        None,
    ]


def test_a_run_that_died_is_not_blamed_for_the_next_writers_changes(tmp_path):
    with Store.open(tmp_path / "m.db") as first:
        first.start_run("c", {})  # never finished: the process "died"
    with Store.open(tmp_path / "m.db") as second:
        second.acquire_writer_lock()
        second.write({"pullrequests": [pr()]})
        assert h.versions(second.conn, "pullrequests", f"{REPO}/pr/1")[0]["run_id"] is None


def test_tombstones_by_every_path_write_versions(store):
    commit = {"id": f"{REPO}/abc", "source": "c", "repository_id": REPO, "hash": "abc"}
    parent = {"id": f"{REPO}/abc/0", "source": "c", "repository_id": REPO}
    parent["commit_id"] = commit["id"]
    store.write({"commits": [{**commit, "json": "{}"}]})
    store.write({"commit_parents": [{**parent, "json": "{}"}]})
    assert store.tombstone_unreachable(REPO, [], "2026-11-04T00:00:00Z") == 1
    assert store.tombstone_children("commit_parents", "commit_id", "commits", T0) == 1
    assert kinds(store, "commits", commit["id"]) == ["insert", "tombstone"]
    assert kinds(store, "commit_parents", parent["id"]) == ["insert", "tombstone"]
    store.write({"commits": [{**commit, "json": "{}"}]})
    assert kinds(store, "commits", commit["id"])[-1] == "revive"
    assert store.tombstone_ids("commits", [commit["id"]], T0) == 1
    assert kinds(store, "commits", commit["id"])[-1] == "tombstone"


def test_states_replay_every_version_from_the_current_row(store):
    seen = []
    for title, state in (("a", "OPEN"), ("b", "OPEN"), ("b", "MERGED")):
        store.write({"pullrequests": [pr(title=title, state=state)]})
        seen.append(h.current(store.conn, "pullrequests", f"{REPO}/pr/1"))
    replayed = [s["state"] for s in h.states(store.conn, "pullrequests", f"{REPO}/pr/1")]
    assert replayed == seen
    assert seen[0] != seen[1] != seen[2]


def test_the_derived_close_time_is_versioned_too(store):
    store.write({"pullrequests": [pr(state="MERGED")]})
    activity = {
        "id": f"{REPO}/pr/1/activity/1",
        "source": "c",
        "pullrequest_id": f"{REPO}/pr/1",
        "repository_id": REPO,
        "kind": "update",
        "state": "MERGED",
        "date": "2026-01-01T12:00:00.000000+00:00",
        "json": "{}",
    }
    store.write({"pullrequest_activity": [activity]})
    last = h.versions(store.conn, "pullrequests", f"{REPO}/pr/1")[-1]
    assert last["changed"] == {"closed_on": None}
    assert last["observed_at"] == pr()["updated_on"]  # derived: dated like the state it fills


def as_of(store: Store, table: str, date: str) -> dict[str, dict]:
    store.conn.row_factory = sqlite3.Row
    try:
        rows = store.conn.execute(h.as_of_sql(table), {"date": date, "repository_id": None})
        return {r["id"]: dict(r) for r in rows}
    finally:
        store.conn.row_factory = None


def test_as_of_answers_each_moment(store):
    day = "2026-01-0{}T00:00:00.000000+00:00".format
    store.write({"pullrequests": [pr(title="a", updated_on=day(2))]})
    store.write({"pullrequests": [pr(title="b", state="MERGED", updated_on=day(4))]})
    store.write({"pullrequests": [pr(2, title="other", updated_on=day(5))]})
    store.tombstone_ids("pullrequests", [f"{REPO}/pr/2"], day(7))
    assert as_of(store, "pullrequests", day(1)) == {}
    at3 = as_of(store, "pullrequests", day(3))
    assert set(at3) == {f"{REPO}/pr/1"}
    assert (at3[f"{REPO}/pr/1"]["title"], at3[f"{REPO}/pr/1"]["state"]) == ("a", "OPEN")
    at6 = as_of(store, "pullrequests", day(6))
    assert at6[f"{REPO}/pr/1"]["title"] == "b" and f"{REPO}/pr/2" in at6
    assert set(as_of(store, "pullrequests", day(8))) == {f"{REPO}/pr/1"}


def test_prune_drops_only_old_versions(store):
    store.write({"pullrequests": [pr(updated_on="2020-01-01T00:00:00.000000+00:00")]})
    store.write({"pullrequests": [pr(title="new", updated_on="2099-01-01T00:00:00.000000+00:00")]})
    with store.transaction():
        assert h.prune(store.conn, 30) == 1
    assert kinds(store) == ["update"]
    newer = pr(title="newer", updated_on="2099-01-02T00:00:00.000000+00:00")
    store.write({"pullrequests": [newer]})
    assert [v["version"] for v in h.versions(store.conn, "pullrequests", f"{REPO}/pr/1")] == [2, 3]


def test_rows_mirrored_before_history_began_count_as_present(tmp_path):
    from test_store_schema_compat import _old_db

    old = _old_db(tmp_path / "old.db", 4)  # a mirror from before history (schema 4)
    old.execute(
        "INSERT INTO pullrequests (id, source, repository_id, number, title, state, updated_on,"
        " json) VALUES (?, 'c', ?, 1, 'first', 'OPEN', '2026-01-01T10:00:00.000000+00:00', '{}')",
        (f"{REPO}/pr/1", REPO),
    )
    old.close()
    with Store.open(tmp_path / "old.db") as store:  # migrates to history
        assert kinds(store) == []
        store.write({"pullrequests": [pr(title="second", updated_on=DAY2)]})
        assert kinds(store) == ["update"]
        assert [s["state"]["title"] for s in h.states(store.conn, "pullrequests", pr()["id"])] == [
            "second"
        ]
        before = as_of(store, "pullrequests", "2020-01-01")
        assert before[f"{REPO}/pr/1"]["title"] == "first"
