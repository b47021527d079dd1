"""The Cloud mirror against the in-process simulator: what only Cloud has to prove.

Equality, convergence, SIGKILL resume, faults, the no-op count and secrets are proven for both
flavours in test_protocol.py. Here: --full and --only, workspaces from the credential, the
removed issue tracker, and reconciliation on its own schedule.
"""

from __future__ import annotations

import sqlite3

from mirror import Harness, differences

from bbmirror.engine import Options
from bbmirror.simulator.cloud.generate import generate


def test_full_flag_rereads_everything_but_writes_nothing_new(tmp_path):
    harness = Harness(generate(2, "tiny"), str(tmp_path / "m.db"))
    first = harness.sync()
    exports = len([r for r in harness.log if "/issues/export" in r.path])  # a first sync's (403)
    again = harness.sync(Options(full=True))
    assert again.requests >= first.requests - exports - 1
    assert sum(again.rows.values()) == 0
    assert differences(harness.world, harness.db) == []


def test_only_limits_the_streams(tmp_path):
    harness = Harness(generate(2, "tiny"), str(tmp_path / "m.db"))
    harness.sync(Options(only=frozenset({"pullrequests"})))
    conn = sqlite3.connect(harness.db)
    assert conn.execute("select count(*) from pullrequests").fetchone()[0]
    assert conn.execute("select count(*) from issues").fetchone()[0] == 0
    assert conn.execute("select count(*) from commits").fetchone()[0] == 0


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
    from bbmirror.simulator.cloud.mutate_issues import delete_issue

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
