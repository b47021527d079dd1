"""The Cloud mirror against the in-process simulator: equality, economy, faults, secrets."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mirror import TOKEN, Harness, differences

from bbmirror.engine import Options
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.simulator.generate import generate


@pytest.fixture(scope="module")
def small_world_db(tmp_path_factory):
    """One full sync of the `small` world, shared by the read-only checks below."""
    db = str(tmp_path_factory.mktemp("small") / "mirror.db")
    harness = Harness(generate(11, "small"), db)
    summary = harness.sync()
    return harness, summary


def test_full_sync_of_small_world_equals_the_world(small_world_db):
    harness, summary = small_world_db
    assert summary.outcome == "ok", summary.message
    assert summary.errors == 0
    assert differences(harness.world, harness.db) == []


def test_full_sync_covers_every_kind_of_row(small_world_db):
    harness, _ = small_world_db
    conn = sqlite3.connect(harness.db)
    states = {r[0] for r in conn.execute("select distinct state from pullrequests")}
    assert states == {"OPEN", "MERGED", "DECLINED", "SUPERSEDED"}
    kinds = {r[0] for r in conn.execute("select distinct kind from pullrequest_activity")}
    assert {"update", "approval", "comment", "changes_requested"} <= kinds
    assert conn.execute("select count(*) from comments where inline_path is not null").fetchone()[0]
    assert conn.execute("select count(*) from comments where deleted = 1").fetchone()[0]
    assert conn.execute("select count(*) from comments where parent_id is not null").fetchone()[0]
    assert conn.execute("select count(*) from commits where parent_count = 2").fetchone()[0]
    assert conn.execute("select count(*) from commit_statuses").fetchone()[0]
    assert conn.execute("select count(*) from issue_change_items").fetchone()[0]
    # Every mirrored row keeps the JSON the API returned.
    assert not conn.execute("select count(*) from pullrequests where json is null").fetchone()[0]
    # Timestamps are stored as UTC with microseconds, whatever offset the API sent.
    dates = [r[0] for r in conn.execute("select date from commits")]
    assert all(d.endswith("+00:00") and len(d) == 32 for d in dates)


def test_run_is_logged_with_rows_and_requests(small_world_db):
    harness, summary = small_world_db
    conn = sqlite3.connect(harness.db)
    outcome, requests, errors = conn.execute(
        "select outcome, requests, errors from sync_runs where id = ?", (summary.run_id,)
    ).fetchone()
    assert (outcome, errors) == ("ok", 0)
    assert requests == summary.requests == len(harness.log)


def _no_op_requests(world) -> int:
    """The requests a sync with nothing changed must make: the plan counts them."""
    return CLOUD_PLAN.no_op_requests(world)


def test_a_sync_with_nothing_changed_makes_only_the_protocol_requests(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    harness.log.clear()
    summary = harness.sync()
    assert summary.requests == len(harness.log) == _no_op_requests(harness.world)
    assert summary.rows == {}
    paths = [r.path for r in harness.log]
    assert not [p for p in paths if "/comments" in p or "/activity" in p or "/commits" in p]


def test_a_new_pr_comment_fetches_only_that_prs_children(tmp_path):
    from bbmirror.simulator import mutate

    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    repo = next(r for r in harness.world.repositories.values() if r.pullrequests)
    pr = next(iter(repo.pullrequests.values()))
    mutate.comment_pr(harness.world, repo, pr, random.Random(1))
    harness.log.clear()
    harness.sync()
    children = [r.path for r in harness.log if "/pullrequests/" in r.path]
    assert children, "the changed PR's children were not fetched"
    assert all(f"/pullrequests/{pr.id}/" in p for p in children), children
    assert len(harness.log) == _no_op_requests(harness.world) + len(children)
    assert differences(harness.world, harness.db) == []


@pytest.mark.parametrize("kinds", [("429",), ("500", "555"), ("drop",), ("429", "502", "drop")])
def test_faults_on_a_fifth_of_requests_do_not_change_the_result(tmp_path, kinds):
    faults = {"fault_rate": 0.2, "fault_kinds": kinds, "retry_after": False}
    harness = Harness(generate(7, "tiny"), str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync()
    assert summary.outcome == "ok", summary.message
    statuses = {r.status for r in harness.log}
    assert statuses - {200}, "no fault was injected"
    assert differences(harness.world, harness.db) == []


def test_the_credential_never_reaches_the_database_or_the_request_log(tmp_path):
    harness = Harness(generate(3, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    for path in tmp_path.iterdir():
        assert TOKEN.encode() not in Path(path).read_bytes(), path
    assert all(TOKEN not in repr(r) for r in harness.log)


def test_full_flag_rereads_everything_but_writes_nothing_new(tmp_path):
    harness = Harness(generate(2, "tiny"), str(tmp_path / "m.db"))
    first = harness.sync()
    again = harness.sync(Options(full=True))
    assert again.requests >= first.requests - 1
    assert sum(again.rows.values()) == 0
    assert differences(harness.world, harness.db) == []


def test_only_limits_the_streams(tmp_path):
    harness = Harness(generate(2, "tiny"), str(tmp_path / "m.db"))
    harness.sync(Options(only=frozenset({"pullrequests"})))
    conn = sqlite3.connect(harness.db)
    assert conn.execute("select count(*) from pullrequests").fetchone()[0]
    assert conn.execute("select count(*) from issues").fetchone()[0] == 0
    assert conn.execute("select count(*) from commits").fetchone()[0] == 0


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a sync story is slow
)
@given(
    seed=st.integers(0, 10_000),
    batches=st.lists(st.integers(1, 45), min_size=6, max_size=10).filter(lambda b: sum(b) >= 200),
    reconcile_at=st.integers(0, 9),
)
def test_incremental_syncs_converge_on_the_world(tmp_path_factory, seed, batches, reconcile_at):
    """Random activity between incremental syncs: the mirror always ends equal to the world."""
    from bbmirror.simulator.mutate import random_activity

    db = str(tmp_path_factory.mktemp("converge") / "m.db")
    harness = Harness(generate(seed, "tiny"), db)
    rng = random.Random(seed)
    harness.sync()
    for index, n in enumerate(batches):
        random_activity(harness.world, n, rng)
        summary = harness.sync(Options(reconcile=index == reconcile_at))
        assert summary.outcome == "ok", summary.message
    harness.sync(Options(reconcile=True))
    assert differences(harness.world, db) == []
    assert _tombstones_match(harness.world, db)


def _tombstones_match(world, db) -> bool:
    """Every row the world no longer has is tombstoned, never deleted."""
    from mirror import expected

    alive = expected(world)
    conn = sqlite3.connect(db)
    for table in ("pullrequests", "issues", "comments", "branches", "commits"):
        for row_id, deleted_at in conn.execute(f"select id, deleted_at from {table}"):
            if (row_id in alive[table]) == (deleted_at is not None):
                return False
    return True


def test_workspaces_come_from_the_credential_when_none_are_named(tmp_path):
    harness = Harness(generate(6, "tiny"), str(tmp_path / "m.db"))
    summary = harness.sync(workspaces=[])
    assert summary.outcome == "ok", summary.message
    assert any(r.path == "/2.0/user/workspaces" for r in harness.log)
    assert not any(r.path == "/2.0/workspaces" for r in harness.log)  # gone since April 2026
    assert differences(harness.world, harness.db) == []


def test_a_removed_issue_tracker_is_a_normal_state_that_keeps_the_history(tmp_path):
    """Cloud removed its issue tracker on 2026-08-20: 410 on every issue endpoint. The issues
    mirrored before stay, untouched, even through a reconciliation."""
    harness = Harness(generate(6, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    conn = sqlite3.connect(harness.db)
    before = conn.execute("select count(*) from issues where deleted_at is null").fetchone()[0]
    assert before
    harness.app.state.config.issue_tracker_removed = True
    summary = harness.sync(Options(reconcile=True))
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert any(r.status == 410 for r in harness.log)
    after = conn.execute("select count(*) from issues where deleted_at is null").fetchone()[0]
    assert after == before


def test_reconciliation_runs_on_its_own_every_n_runs(tmp_path):
    from bbmirror.simulator.mutate import delete_issue

    harness = Harness(generate(6, "tiny"), str(tmp_path / "m.db"))
    assert not harness.sync(reconcile_every=2).reconciled  # no successful run yet
    repo = next(r for r in harness.world.repositories.values() if r.issues)
    issue = next(iter(repo.issues.values()))
    delete_issue(harness.world, repo, issue)
    assert not harness.sync(reconcile_every=2).reconciled  # 1 ok run so far
    assert differences(harness.world, harness.db)  # a hard delete leaves no trace upstream
    summary = harness.sync(reconcile_every=2)  # 2 ok runs: this one reconciles
    assert summary.reconciled and summary.rows.get("issues") == 1
    assert differences(harness.world, harness.db) == []


def test_truncated_json_is_retried_like_a_5xx(tmp_path):
    """A truncated 200 is retried (issue 11.9): 15 % garbage still gives an equal mirror."""
    faults = {"fault_rate": 0.15, "fault_kinds": ("garbage",), "seed": 3}
    harness = Harness(generate(7, "tiny"), str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync()
    assert harness.app.state.faults.counters["garbage"] > 0
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert differences(harness.world, harness.db) == []


def test_malformed_json_is_quarantined_and_the_next_run_catches_up(tmp_path):
    """Truncated JSON that retries cannot fix: the stream's page is quarantined with its
    reason, the other streams go on, and a clean run later converges."""
    faults = {"fault_rate": 0.6, "fault_kinds": ("garbage",), "seed": 3}
    harness = Harness(generate(7, "tiny"), str(tmp_path / "m.db"), faults=faults)
    first = harness.sync()
    assert first.outcome == "partial" and first.errors > 0
    conn = sqlite3.connect(harness.db)
    reasons = [r[0] for r in conn.execute("select reason from sync_errors")]
    assert len(reasons) == first.errors and any("invalid JSON" in r for r in reasons)
    # Every other entry is a skip that names what could not be read.
    assert all("invalid JSON" in r or "could not be read" in r for r in reasons), reasons
    assert conn.execute("select count(*) from pullrequests").fetchone()[0]  # others went on
    harness.app.state.faults.fault_rate = 0
    assert harness.sync().outcome == "ok"
    assert differences(harness.world, harness.db) == []
