"""The Data Center mirror against the Server simulator: the seven proofs the Cloud mirror gives.

Equality after a full sync, convergence over random activity (under both settings of each
undocumented-behaviour switch), SIGKILL at random moments, injected faults, an exact no-op
request count, no credential anywhere, and one clear line for each bad input.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from dc_mirror import TOKEN, DcHarness, differences
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mirror import Harness
from mirror import differences as cloud_differences

from bbmirror.cli import cli
from bbmirror.config import Credentials, Secret, Source
from bbmirror.engine import Options, sync_sources
from bbmirror.flavours.server.plan import SERVER_PLAN
from bbmirror.simulator.dc_api import DcConfig, DcFaults, create_dc_app
from bbmirror.simulator.dc_generate import generate_dc
from bbmirror.simulator.dc_mutate import random_activity
from bbmirror.simulator.dc_world import DcSettings
from bbmirror.simulator.generate import generate
from bbmirror.simulator.server import RunningApp


def test_full_sync_of_small_world_equals_the_world(tmp_path):
    harness = DcHarness(generate_dc(5, "small"), str(tmp_path / "m.db"))
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert differences(harness.world, harness.db) == []
    conn = sqlite3.connect(harness.db)
    kinds = {r[0] for r in conn.execute("select distinct kind from pullrequest_activity")}
    assert {"update", "comment", "approval", "changes_requested"} <= kinds
    assert conn.execute("select count(*) from comments where parent_id is not null").fetchone()[0]
    assert conn.execute("select count(*) from jira_links where found_in = 'jira'").fetchone()[0]
    assert conn.execute("select count(*) from jira_links where found_in = 'message'").fetchone()[0]
    assert conn.execute("select count(*) from commit_statuses").fetchone()[0]
    personal = conn.execute("select count(*) from repositories where full_name like '~%'")
    assert personal.fetchone()[0]


def _no_op_requests(world) -> int:
    """The requests a sync with nothing changed must make: the plan counts them."""
    return SERVER_PLAN.no_op_requests(world)


def test_a_sync_with_nothing_changed_makes_only_the_protocol_requests(tmp_path):
    harness = DcHarness(generate_dc(2, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    harness.log.clear()
    summary = harness.sync()
    assert summary.requests == len(harness.log) == _no_op_requests(harness.world)
    assert summary.rows == {}


def test_a_new_comment_fetches_only_that_prs_children(tmp_path):
    from bbmirror.simulator.dc_mutate import comment_pr

    harness = DcHarness(generate_dc(2, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    repo = next(r for r in harness.world.repositories.values() if r.pull_requests)
    pr = next(iter(repo.pull_requests.values()))
    someone = next(u for u in harness.world.users if u != pr.author_id)
    comment_pr(harness.world, pr, someone, "One more thing: the **changelog**.")
    harness.log.clear()
    harness.sync()
    children = [r.path for r in harness.log if "/pull-requests/" in r.path]
    assert children and all(f"/pull-requests/{pr.id}/" in p for p in children), children
    assert len(harness.log) == _no_op_requests(harness.world) + len(children)
    assert differences(harness.world, harness.db) == []


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a sync story is slow
)
@given(
    seed=st.integers(0, 10_000),
    batches=st.lists(st.integers(1, 45), min_size=6, max_size=10).filter(lambda b: sum(b) >= 200),
    newest_by=st.sampled_from(["updated", "created"]),
    comment_bumps_pr=st.booleans(),
)
def test_incremental_syncs_converge_on_the_world(
    tmp_path_factory, seed, batches, newest_by, comment_bumps_pr
):
    """Random activity between syncs; a final reconciliation makes the mirror equal the world
    (comment edits that move nothing on the PR are only visible to it)."""
    db = str(tmp_path_factory.mktemp("converge") / "m.db")
    switches = DcSettings(newest_by=newest_by, comment_bumps_pr=comment_bumps_pr)
    harness = DcHarness(generate_dc(seed, "tiny", settings=switches), db)
    rng = random.Random(seed)
    harness.sync()
    for n in batches:
        random_activity(harness.world, n, rng)
        assert harness.sync().outcome == "ok"
    harness.sync(Options(reconcile=True))
    assert differences(harness.world, db) == []


@pytest.mark.parametrize(
    "newest_by, activities_newest_first, sparse_paging, comments_need_path",
    [("updated", True, True, True), ("created", False, False, False)],
)
def test_without_reconcile_bumping_changes_are_all_seen(
    tmp_path, newest_by, activities_newest_first, sparse_paging, comments_need_path
):
    """With comments bumping the PR, every change is seen without any reconciliation, under
    both settings of every other switch: whatever NEWEST sorts by (a non-monotonic order makes
    every run read the whole list), activity order, non-contiguous `nextPageStart`, and
    whether `/comments` needs a path (the mirror reads comments from activities)."""
    switches = DcSettings(
        newest_by=newest_by,
        comment_bumps_pr=True,
        activities_newest_first=activities_newest_first,
        sparse_paging=sparse_paging,
        comments_need_path=comments_need_path,
    )
    harness = DcHarness(generate_dc(9, "tiny", settings=switches), str(tmp_path / "m.db"))
    rng = random.Random(9)
    harness.sync()
    for _ in range(6):
        # Deleting a closed PR is the one change only a complete list can see.
        kinds = random_activity(harness.world, 30, rng)
        harness.sync()
        if not any(k.startswith("delete PR") for k in kinds):
            problems = [p for p in differences(harness.world, harness.db) if "/pr/" not in p]
            assert problems == []
    harness.sync(Options(reconcile=True))
    assert differences(harness.world, harness.db) == []


@pytest.mark.parametrize("kinds", [("429",), ("500", "503"), ("drop",)])
def test_faults_on_a_fifth_of_requests_do_not_change_the_result(tmp_path, kinds):
    faults = {"fault_rate": 0.2, "fault_kinds": kinds}
    harness = DcHarness(generate_dc(4, "tiny"), str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync()
    assert summary.outcome == "ok", summary.message
    assert {r.status for r in harness.log} - {200}, "no fault was injected"
    assert differences(harness.world, harness.db) == []


def test_the_credential_never_reaches_the_database_or_the_log(tmp_path):
    harness = DcHarness(generate_dc(4, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    for path in tmp_path.iterdir():
        assert TOKEN.encode() not in Path(path).read_bytes(), path
    assert all(TOKEN not in repr(r) for r in harness.log)


def test_cloud_and_server_share_one_database(tmp_path):
    db = str(tmp_path / "both.db")
    cloud = Harness(generate(3, "tiny"), db)
    server = DcHarness(generate_dc(3, "tiny"), db)
    cloud.sync()
    server.sync()
    assert cloud_differences(cloud.world, db) == []
    assert differences(server.world, db) == []
    conn = sqlite3.connect(db)
    by_source = dict(
        conn.execute(
            "select r.source, count(p.id) from pullrequests p"
            " join repositories r on r.id = p.repository_id group by r.source"
        ).fetchall()
    )
    cloud_prs = sum(len(r.pullrequests) for r in cloud.world.repositories.values())
    server_prs = sum(len(r.pull_requests) for r in server.world.repositories.values())
    assert by_source == {"cloud": cloud_prs, "dc": server_prs}
    # One report over both: reviews per source through the same tables.
    approvals = conn.execute(
        "select count(distinct source) from pullrequest_activity where kind = 'approval'"
    ).fetchone()[0]
    assert approvals == 2


# -- the command line against a Server simulator on a loopback port -----------------------------


@pytest.fixture(scope="module")
def loopback():
    world = generate_dc(6, "tiny")
    viewer = world.users[min(world.users)].slug

    def make(root: str):
        return create_dc_app(world, DcConfig(base_url=root, tokens={TOKEN: viewer}))

    with RunningApp(make) as running:
        running.world = world
        yield running


def _cli_sync(running, db, *extra, token=TOKEN, url=None):
    keys = sorted(p.key for p in running.world.projects.values() if not p.key.startswith("~"))
    args = ["sync", str(db), "--server-url", url or running.root]
    for key in keys:
        args += ["--project", key]
    env = {"BITBUCKET_SERVER_TOKEN": token}
    return CliRunner().invoke(cli, [*args, *extra], env=env)


def _fingerprint(db: Path) -> str:
    """Every row but the run log's (a failed run leaves its run row, nothing else)."""
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    rows = {t: sorted(map(repr, conn.execute(f"SELECT * FROM [{t}]"))) for t in tables}
    conn.close()
    return hashlib.sha256(
        repr(
            {k: v for k, v in rows.items() if k != "sync_runs" and not k.startswith("sqlite_")}
        ).encode()
    ).hexdigest()


def _one_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_cli_sync_of_named_projects(tmp_path, loopback):
    result = _cli_sync(loopback, tmp_path / "m.db")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("server: ok")


def test_bad_input_gives_one_line_and_leaves_the_database(tmp_path, loopback):
    db = tmp_path / "m.db"
    assert _cli_sync(loopback, db).exit_code == 0
    before = _fingerprint(db)
    assert "credentials" in _one_line(_cli_sync(loopback, db, token="wrong"))
    line = _one_line(_cli_sync(loopback, db, "--project", "NOPE"))
    assert "project 'NOPE' does not exist" in line
    line = _one_line(_cli_sync(loopback, db, "--repo", "NOPE/none"))
    assert "repository 'NOPE/none'" in line
    line = _one_line(_cli_sync(loopback, db, url="http://127.0.0.1:9"))
    assert "cannot reach" in line
    assert TOKEN not in line
    assert _fingerprint(db) == before


def test_sigkill_at_random_moments_then_rerun_converges(tmp_path):
    """Ten kills here plus the Cloud test's twenty; each followed by a rerun that converges."""
    world = generate_dc(8, "tiny")
    viewer = world.users[min(world.users)].slug
    rng = random.Random(8)
    db = str(tmp_path / "m.db")

    def make(root: str):
        faults = DcFaults(latency=0.004)  # long enough that kills land mid-sync
        return create_dc_app(world, DcConfig(base_url=root, tokens={TOKEN: viewer}, faults=faults))

    with RunningApp(make) as running:
        args = [sys.executable, "-m", "bbmirror", "sync", db, "--server-url", running.root]
        env = {**os.environ, "BITBUCKET_SERVER_TOKEN": TOKEN}
        source = Source(
            name="server",
            kind="server",
            base_url=running.root,
            credentials=Credentials(token=Secret(TOKEN)),
            budget=1_000_000,
        )
        started = time.monotonic()
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=120)
        duration = time.monotonic() - started
        landed = 0
        for trial in range(10):
            with running.app.state.lock:
                random_activity(world, rng.randint(5, 30), rng)
            process = subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            time.sleep(rng.uniform(0, duration))
            landed += process.poll() is None
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            summary = asyncio.run(sync_sources(db, [source], Options(reconcile=True)))[0]
            assert summary.outcome == "ok", summary.message
            with running.app.state.lock:
                assert differences(world, db, source="server") == [], trial
    assert landed >= 4, "too few kills landed during a sync"


@pytest.mark.parametrize("comment_bumps_pr", [True, False])
def test_a_comment_edit_on_a_closed_pr(tmp_path, comment_bumps_pr):
    """An edit moves the PR's updatedDate only where the server bumps it: then the next sync
    sees it; otherwise (nothing on the PR moves) the reconciliation does."""
    from bbmirror.simulator.dc_mutate import edit_comment

    switches = DcSettings(comment_bumps_pr=comment_bumps_pr)
    harness = DcHarness(generate_dc(12, "tiny", settings=switches), str(tmp_path / "m.db"))
    harness.sync()
    pr = next(
        pr
        for repo in harness.world.repositories.values()
        for pr in repo.pull_requests.values()
        if pr.state != "OPEN" and any(True for _ in pr.all_comments())
    )
    comment = next(pr.all_comments())
    edit_comment(harness.world, pr, comment, comment.text + " (edited later)")
    harness.sync()
    stale = differences(harness.world, harness.db)
    assert (stale == []) == comment_bumps_pr, stale
    harness.sync(Options(reconcile=True))
    assert differences(harness.world, harness.db) == []


def test_truncated_json_is_retried_like_a_5xx(tmp_path):
    """A truncated 200 is retried (issue 11.9): 15 % garbage still gives an equal mirror."""
    faults = {"fault_rate": 0.15, "fault_kinds": ("garbage",), "seed": 5}
    harness = DcHarness(generate_dc(7, "tiny"), str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync()
    assert harness.app.state.faults.counters["garbage"] > 0
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert differences(harness.world, harness.db) == []


def test_malformed_json_is_quarantined_and_the_next_run_catches_up(tmp_path):
    """Garbage that retries cannot fix is quarantined; a clean run later converges."""
    faults = {"fault_rate": 0.6, "fault_kinds": ("garbage",), "seed": 5}
    harness = DcHarness(generate_dc(7, "tiny"), str(tmp_path / "m.db"), faults=faults)
    first = harness.sync()
    assert first.outcome == "partial" and first.errors > 0
    harness.app.state.faults.fault_rate = 0
    assert harness.sync().outcome == "ok"
    assert differences(harness.world, harness.db) == []
