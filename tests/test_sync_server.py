"""The Data Center mirror against the Server simulator: what only Data Center has to prove.

Equality, convergence, SIGKILL resume, faults, the no-op count and secrets are proven for both
flavours in test_protocol.py. Here: changes seen without reconciliation under every setting of
the undocumented-behaviour switches, a comment edit on a closed PR, Cloud and Server in one
database, and the command line against a loopback Server.
"""

from __future__ import annotations

import random
import sqlite3

import pytest
from click.testing import CliRunner
from dc_mirror import TOKEN, DcHarness, differences
from mirror import Harness
from mirror import differences as cloud_differences

from bbmirror.cli import cli
from bbmirror.engine import Options
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.common.serving import RunningApp
from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.simulator.server.mutate import random_activity
from bbmirror.simulator.server.world import DcSettings


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


def test_cli_sync_of_named_projects(tmp_path, loopback):
    result = _cli_sync(loopback, tmp_path / "m.db")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("server: ok")


@pytest.mark.parametrize("comment_bumps_pr", [True, False])
def test_a_comment_edit_on_a_closed_pr(tmp_path, comment_bumps_pr):
    """An edit moves the PR's updatedDate only where the server bumps it: then the next sync
    sees it; otherwise (nothing on the PR moves) the reconciliation does."""
    from bbmirror.simulator.server.mutate_pr import edit_comment

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
