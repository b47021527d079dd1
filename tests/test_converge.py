"""Incremental sync converges on what a clean sync of the same world reads (issue 11, "What it
must show"): each test changes a world, syncs an existing mirror and a fresh one, and compares
them row by row (tests/compare.py)."""

from __future__ import annotations

import random
import sqlite3
from urllib.parse import parse_qs

import dbstate
import pytest
from compare import compare
from dc_mirror import DcHarness
from mirror import Harness

from bbmirror.engine import Options
from bbmirror.simulator.cloud import mutate as cloud_mutate
from bbmirror.simulator.cloud import mutate_issues
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.server import mutate as dc_mutate
from bbmirror.simulator.server.generate import generate_dc


def _differences(clean: str, trial: str, *tables: str) -> list[str]:
    found = compare(clean, trial).differences
    return [f"{d.kind} {d.table} {d.key} {d.detail}" for d in found if d.table in tables]


GC_TABLES = ("commits", "commit_parents", "jira_links", "commit_statuses")


def test_cloud_garbage_collection_takes_the_parents_of_the_commits_it_collects(tmp_path, mirrored):
    shared = mirrored("cloud", "tiny", seed=5)  # a full sync, copied; tiny is enough to collect
    assert shared.summary.outcome == "ok"
    harness = shared.copy(str(tmp_path / "m.db"))
    world = harness.world
    rng = random.Random(5)
    for repo in world.repositories.values():
        branches = {pr.source_branch for pr in repo.pullrequests.values() if pr.state == "OPEN"}
        for branch in sorted(branches)[:2]:
            cloud_mutate.force_push(world, repo, branch, rng)
    assert harness.sync().outcome == "ok"
    clean = Harness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    assert _differences(clean.db, harness.db, *GC_TABLES) == []
    collected = "select count(*) from commit_parents where deleted_at is not null"
    assert dbstate.count(harness.db, collected) > 0  # force pushes did leave commits behind


def _off_ref_walks(harness: DcHarness, start: int = 0) -> list[str]:
    """Commit walks from a commit no branch or tag holds (a PR's), as the simulator logged them."""
    tips = {
        sha
        for repo in harness.world.repositories.values()
        for sha in (*repo.branches.values(), *(t.target for t in repo.tags.values()))
    }
    walks = [parse_qs(e.query) for e in harness.log[start:] if e.path.endswith("/commits")]
    return [q["until"][0] for q in walks if "until" in q and q["until"][0] not in tips]


@pytest.mark.parametrize("seed", [5, 7])
def test_dc_garbage_collection_takes_parents_jira_links_and_statuses_along(
    tmp_path, mirrored, seed
):
    """Seed 5 force-pushes main back past a merged PR's merge commit: Bitbucket still serves
    it (the PR's merge commit), the incremental mirror keeps it, and a clean sync lacked it."""
    shared = mirrored("server", "tiny", seed=seed)  # a full sync, copied; tiny collects each kind
    assert shared.summary.outcome == "ok"
    harness = shared.copy(str(tmp_path / "m.db"))
    world = harness.world
    rng = random.Random(5)
    for repo in world.repositories.values():
        for branch in sorted(repo.branches)[:2]:
            dc_mutate.force_push(world, repo, branch, rng)
    assert harness.sync_equal().outcome == "ok"
    assert _off_ref_walks(harness) == []  # it kept what only PRs reach: nothing to ask
    clean = DcHarness(world, str(tmp_path / "clean.db"))
    assert clean.sync_equal().outcome == "ok"
    assert len(_off_ref_walks(clean)) == {5: 1, 7: 0}[seed]  # seed 5: the merge commit
    asked = len(clean.log)
    assert clean.sync_equal().outcome == "ok"
    assert _off_ref_walks(clean, asked) == []  # read once
    assert _differences(clean.db, harness.db, *GC_TABLES[:3]) == []
    # Statuses of a former tip that is still live keep their last read (README, "Statuses of
    # commits that are no longer a tip"); a clean sync reads tips only. Bitbucket holds them.
    for d in compare(clean.db, harness.db).differences:
        if d.table == "commit_statuses":
            repo_id, sha = d.key.split("/status/")[0].rsplit("/", 1)
            repo = world.repositories[int(repo_id.rsplit("/", 1)[1])]
            tips = {*repo.branches.values(), *(t.target for t in repo.tags.values())}
            assert d.kind == "extra" and sha not in tips, d
            assert d.key.rsplit("/", 1)[1] in {b.key for b in repo.builds.get(sha, ())}, d
    for table in GC_TABLES:  # force pushes did leave rows of each kind behind
        collected = f"select count(*) from {table} where deleted_at is not null"
        assert dbstate.count(harness.db, collected) > 0, table


def test_dc_a_pr_commit_bitbucket_no_longer_has_is_asked_for_once(tmp_path):
    """A merged PR's merge commit that a force-push left behind and git collected: the walk
    answers nothing, and the next run does not ask again (requests are the currency)."""
    world = generate_dc(5, "tiny")
    repo, pr = next(
        (r, p)
        for r in world.repositories.values()
        for p in r.pull_requests.values()
        if p.state == "MERGED" and r.branches[r.default_branch] == p.merge_commit
    )
    dc_mutate.force_push(world, repo, repo.default_branch, random.Random(5))
    del repo.commits[pr.merge_commit]  # git's garbage collection upstream
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync_equal().outcome == "ok"
    assert _off_ref_walks(harness) == [pr.merge_commit]
    asked = len(harness.log)
    assert harness.sync_equal().outcome == "ok"
    assert _off_ref_walks(harness, asked) == []


def test_dc_closed_on_of_a_pull_request_declined_twice_is_the_one_a_clean_sync_stores(tmp_path):
    """Full sync: closedDate, then the activity trigger lowers it to the first decline; an
    incremental run that saw the PR reopened kept the second decline."""
    world = generate_dc(3, "tiny")
    harness = DcHarness(world, str(tmp_path / "m.db"))
    repo, pr = next(
        (r, p)
        for r in world.repositories.values()
        for p in r.pull_requests.values()
        if p.state == "OPEN" and r.branches.get(p.from_branch) == p.from_commit
    )
    uid = min(world.users)
    assert harness.sync().outcome == "ok"
    dc_mutate.decline_pr(world, pr, uid)
    assert harness.sync().outcome == "ok"
    assert dc_mutate.reopen_pr(world, repo, pr, uid)
    assert harness.sync().outcome == "ok"
    dc_mutate.decline_pr(world, pr, uid)
    assert harness.sync().outcome == "ok"
    clean = DcHarness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    assert _differences(clean.db, harness.db, "pullrequests") == []


def test_dc_a_named_project_whose_repositories_all_moved_away_is_still_mirrored(tmp_path):
    """A clean sync wrote projects only from their repositories, so an empty one (alive
    upstream, and alive in a mirror that saw it before) was missing."""
    world = generate_dc(3, "tiny")
    empty, other = sorted(world.projects.values(), key=lambda p: p.id)[:2]
    for repo in list(world.repositories.values()):
        if repo.project_id == empty.id:
            assert dc_mutate.move_repo(world, repo, other)
    keys = tuple(sorted(p.key for p in world.projects.values()))
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync(projects=keys).outcome == "ok"
    conn = sqlite3.connect(harness.db)
    alive = {r[0] for r in conn.execute("select key from projects where deleted_at is null")}
    conn.close()
    assert alive == set(keys)


def _cloud_changes_that_move_no_updated_on(world, rng: random.Random) -> None:
    """New and changed build statuses on open PRs' source commits, and issue votes."""
    for repo in world.repositories.values():
        for pr in [p for p in repo.pullrequests.values() if p.state == "OPEN"][:3]:
            for _ in range(2):
                cloud_mutate.add_status(world, repo, pr.source_commit, rng)
        for issue in list(repo.issues.values())[:3] if repo.has_issues else ():
            cloud_mutate.vote_issue(world, repo, issue, rng)


def test_cloud_reconcile_reads_the_statuses_and_votes_that_move_no_updated_on(tmp_path):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    _cloud_changes_that_move_no_updated_on(world, random.Random(7))
    clean = Harness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    assert harness.sync().outcome == "ok"
    gaps = _differences(clean.db, harness.db, "commit_statuses", "issues")
    assert gaps  # the API's limit: a plain incremental run cannot see these (README "Limits")
    assert harness.sync(Options(reconcile=True)).outcome == "ok"
    assert _differences(clean.db, harness.db, "commit_statuses", "issues") == []


def _finish(status, when: str | int) -> None:
    status.state = "SUCCESSFUL"
    if hasattr(status, "updated_on"):
        status.updated_on = when
    else:
        status.date_added = when


def test_cloud_a_build_in_progress_is_read_again_until_it_finishes(tmp_path):
    """Freshness without --reconcile: statuses still INPROGRESS are re-read every run."""
    world = generate(3, "tiny")
    rng = random.Random(3)
    repo, pr = next(
        (r, p)
        for r in world.repositories.values()
        for p in r.pullrequests.values()
        if p.state == "OPEN"
    )
    status = cloud_mutate.add_status(world, repo, pr.source_commit, rng)
    status.state = "INPROGRESS"
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    _finish(status, mutate_issues._now(world, rng))
    assert harness.sync().outcome == "ok"
    clean = Harness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    assert _differences(clean.db, harness.db, "commit_statuses") == []


def test_dc_a_build_in_progress_on_a_tip_is_read_again_until_it_finishes(tmp_path):
    world = generate_dc(3, "tiny")
    rng = random.Random(3)
    repo = next(iter(world.repositories.values()))
    tip = repo.branches[sorted(repo.branches)[0]]
    build = dc_mutate.add_build(world, repo, tip, rng)
    build.state = "INPROGRESS"
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    _finish(build, build.date_added + 60_000)
    assert harness.sync().outcome == "ok"
    clean = DcHarness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    assert _differences(clean.db, harness.db, "commit_statuses") == []


def test_cloud_a_renamed_repository_is_read_again_with_its_new_name_everywhere(tmp_path):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    repo = max(world.repositories.values(), key=lambda r: len(r.pullrequests))
    cloud_mutate.rename_repo(world, repo, repo.slug + "-next", random.Random(1))
    assert harness.sync().outcome == "ok"
    clean = Harness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    found = compare(clean.db, harness.db)
    assert found.equal, found.summary()


def test_dc_a_renamed_and_a_moved_repository_are_read_again(tmp_path):
    world = generate_dc(3, "tiny")
    keys = tuple(sorted(p.key for p in world.projects.values()))
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync(projects=keys).outcome == "ok"
    renamed, moved = sorted(world.repositories.values(), key=lambda r: -len(r.pull_requests))[:2]
    assert dc_mutate.rename_repo(world, renamed, renamed.name + " next")
    target = next(p for p in world.projects.values() if p.id != moved.project_id)
    assert dc_mutate.move_repo(world, moved, target)
    assert harness.sync(projects=keys).outcome == "ok"
    clean = DcHarness(world, str(tmp_path / "clean.db"))
    assert clean.sync(projects=keys).outcome == "ok"
    found = compare(clean.db, harness.db)
    assert found.equal, found.summary()
