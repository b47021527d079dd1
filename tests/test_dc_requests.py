"""Data Center request economy (issue 14): build statuses asked in bulk, no range walk for a tip
the mirror already reaches, Jira issues read only for pull requests that can have some.

Each test syncs the in-process simulator and checks both the requests made and that the mirror
still equals the world.
"""

from __future__ import annotations

import random
import re
import sqlite3
from urllib.parse import parse_qs

from dc_mirror import DcHarness, differences
from lying import lie_to

from bbmirror.engine import Options
from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.server import mutate as dc_mutate
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.simulator.server.world import DcWorld

CANDIDATE = re.compile(r"[A-Z][A-Z0-9_]+-[0-9]+")  # what may be a Jira key (reference §4)


def _tips(world: DcWorld) -> dict[int, set[str]]:
    return {
        repo.id: {*repo.branches.values(), *(t.target for t in repo.tags.values())}
        for repo in world.repositories.values()
    }


def _statuses(db: str) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        sql = "select commit_hash, key from commit_statuses where deleted_at is null"
        return set(conn.execute(sql))


def _status_gets(log: list) -> list[str]:
    return [
        r.path.rsplit("/", 1)[1]
        for r in log
        if r.method == "GET" and "/rest/build-status/" in r.path and "/stats" not in r.path
    ]


def _walked_tips(log: list) -> list[str]:
    return [
        parse_qs(r.query).get("until", [""])[0]
        for r in log
        if r.method == "GET" and r.path.endswith("/commits") and "/pull-requests/" not in r.path
    ]


def test_statuses_are_listed_only_for_tips_the_bulk_stats_say_have_builds(mirrored):
    shared = mirrored("server")  # the run's first full sync (tiny): read only
    world, harness = shared.harness.world, shared.harness
    assert shared.summary.outcome == "ok"
    tips = _tips(world)
    built = {
        sha for repo in world.repositories.values() for sha in tips[repo.id] if repo.builds.get(sha)
    }
    assert built and built != set().union(*tips.values())  # some tips have builds, some not
    gets = _status_gets(harness.log)
    assert sorted(gets) == sorted(built)  # one list per tip with builds, none for the others
    posts = [r for r in harness.log if r.method == "POST"]
    assert {r.path for r in posts} == {"/rest/build-status/1.0/commits/stats"}
    assert len(posts) == len(world.repositories)  # every repository's tips fit one request
    want = {
        (sha, b.key)
        for repo in world.repositories.values()
        for sha in built
        for b in repo.builds.get(sha, ())
    }
    assert _statuses(harness.db) == want
    assert differences(world, harness.db) == []


def test_no_range_walk_for_a_tip_below_a_walked_head(tmp_path):
    world = generate_dc(3, "tiny")
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    rng = random.Random(5)
    known: set[str] = set()
    for repo in world.repositories.values():
        head = repo.branches[repo.default_branch]
        older = repo.commits[head].parents[0]
        dc_mutate.create_branch(world, repo, "release/old", at=older)
        dc_mutate.create_tag(world, repo, "v-known")
        dc_mutate.add_build(world, repo, older, rng)
        known |= {older, head}
    start = len(harness.log)
    assert harness.sync().outcome == "ok"
    assert not set(_walked_tips(harness.log[start:])) & known  # the graph was there
    assert differences(world, harness.db) == []
    statuses = {sha for sha, _ in _statuses(harness.db)}
    assert all(
        repo.commits[repo.branches["release/old"]].id in statuses
        for repo in world.repositories.values()
    )  # the new tip's statuses were read
    clean = DcHarness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    assert _statuses(clean.db) <= _statuses(harness.db)


def test_a_tip_stored_only_from_a_pull_request_is_still_walked(tmp_path):
    """Commits a PR's commit list stored say nothing of their ancestors: only a walked head's
    ancestry counts as mirrored."""
    world = generate_dc(3, "tiny")
    harness = DcHarness(world, str(tmp_path / "m.db"))
    only = frozenset({"pullrequests", "pr_commits"})
    assert harness.sync(Options(only=only)).outcome == "ok"
    with sqlite3.connect(harness.db) as conn:
        stored = {row[0] for row in conn.execute("select hash from commits")}
    lone = set()  # branch tips stored from a PR list that no other ref reaches
    for repo in world.repositories.values():
        for name, tip in repo.branches.items():
            others = [t for n, t in repo.branches.items() if n != name]
            others += [t.target for t in repo.tags.values()]
            if tip in stored and tip not in ancestors(repo.commits, others):
                lone.add(tip)
    assert lone
    start = len(harness.log)
    assert harness.sync().outcome == "ok"
    assert lone <= set(_walked_tips(harness.log[start:]))
    assert differences(world, harness.db) == []


def test_a_tip_still_building_is_listed_again_only_when_its_counts_move(tmp_path):
    world = generate_dc(3, "tiny")
    rng = random.Random(3)
    repo = next(iter(world.repositories.values()))
    tip = repo.branches[repo.default_branch]
    build = dc_mutate.add_build(world, repo, tip, rng)
    build.state = "INPROGRESS"
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    start = len(harness.log)
    assert harness.sync().outcome == "ok"  # nothing changed: one bulk question, no list
    quiet = harness.log[start:]
    assert len([r for r in quiet if r.method == "POST"]) == 1
    assert _status_gets(quiet) == []
    build.state = "SUCCESSFUL"
    start = len(harness.log)
    assert harness.sync().outcome == "ok"
    assert _status_gets(harness.log[start:]) == [tip]
    with sqlite3.connect(harness.db) as conn:
        sql = "select state from commit_statuses where commit_hash = ? and key = ?"
        assert conn.execute(sql, (tip, build.key)).fetchone() == ("SUCCESSFUL",)


def _keyed(world: DcWorld) -> tuple[set, set]:
    """(repository id, PR number) of the PRs some commit message of which names a candidate
    key, and of the others."""
    keyed, plain = set(), set()
    for repo in world.repositories.values():
        for pr in repo.pull_requests.values():
            messages = [repo.commits[sha].message for sha in pr.commit_ids]
            named = any(CANDIDATE.search(m) for m in messages)
            (keyed if named else plain).add((repo.id, pr.id))
    return keyed, plain


def _jira_reads(log: list) -> list:
    return [r for r in log if r.path.startswith("/rest/jira/")]


def test_jira_issues_are_read_only_for_pull_requests_whose_commits_name_a_key(mirrored):
    shared = mirrored("server")  # the run's first full sync (tiny): read only
    world, harness = shared.harness.world, shared.harness
    assert shared.summary.outcome == "ok"
    keyed, plain = _keyed(world)
    assert keyed and plain
    # One read per PR that can have issues, none for the rest.
    assert len(_jira_reads(harness.log)) == len(keyed)
    assert differences(world, harness.db) == []  # found_in 'jira' rows equal Bitbucket's answers
    with sqlite3.connect(harness.db) as conn:
        linked = conn.execute("select count(*) from jira_links where found_in = 'jira'")
        assert linked.fetchone()[0] > 0


def test_jira_reads_that_failed_are_done_next_run_without_the_rest_of_the_pr(tmp_path):
    world = generate_dc(3, "tiny")
    harness = DcHarness(world, str(tmp_path / "m.db"))
    proxy = lie_to(harness, lambda scope: 500 if scope["path"].startswith("/rest/jira/") else None)
    assert harness.sync().outcome == "partial"
    assert not _jira_reads(harness.log)  # every read failed (the proxy answered)
    proxy.rule = None
    start = len(harness.log)
    assert harness.sync().outcome == "ok"
    again = harness.log[start:]
    assert len(_jira_reads(again)) == len(_keyed(world)[0]) > 0
    assert not [r for r in again if r.path.endswith("/activities")]  # the PRs were not re-read
    assert differences(world, harness.db) == []


def _open_lists(log: list) -> list:
    return [r for r in log if r.path.endswith("/pull-requests") and "state=OPEN" in r.query]


def test_open_pull_requests_are_listed_again_only_when_the_walk_did_not_list_them_all(tmp_path):
    world = generate_dc(3, "tiny")
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    repo = next(r for r in world.repositories.values() if len(r.pull_requests) > 3)
    pr = next(p for p in repo.pull_requests.values() if p.state == "OPEN")
    pr.title += " (renamed without a new updatedDate)"  # a change only a re-read can see
    start = len(harness.log)
    assert harness.sync().outcome == "ok"
    quiet = harness.log[start:]
    assert _open_lists(quiet) == []  # each newest page was a whole list, open PRs and all
    assert differences(world, harness.db) == []
    harness.app.state.config.max_limits = {"pull-requests": 3}  # pages shorter than the lists
    start = len(harness.log)
    assert harness.sync().outcome == "ok"
    longer = [r for r in world.repositories.values() if len(r.pull_requests) > 3]
    assert len(_open_lists(harness.log[start:])) == len(longer)
    assert differences(world, harness.db) == []


def test_a_pull_request_whose_commits_no_longer_name_a_key_loses_its_issues_unasked(
    tmp_path, mirrored
):
    shared = mirrored("server")  # the run's first full sync (tiny), copied
    assert shared.summary.outcome == "ok"
    harness = shared.copy(str(tmp_path / "m.db"))
    world = harness.world
    repo, pr = next(
        (r, p)
        for r in world.repositories.values()
        for p in r.pull_requests.values()
        if p.state == "OPEN"
        and p.from_repo_id == r.id
        and p.commit_ids == [r.branches.get(p.from_branch)]
        and CANDIDATE.search(r.commits[p.commit_ids[0]].message)
    )
    (amended,) = dc_mutate.force_push(world, repo, pr.from_branch, random.Random(1))
    repo.commits[amended].message = "Reword the change without naming an issue"
    assert pr.commit_ids == [amended]
    start = len(harness.log)
    assert harness.sync().outcome == "ok"
    path = f"/repos/{repo.slug}/pull-requests/{pr.id}/issues"
    assert not [r for r in _jira_reads(harness.log[start:]) if r.path.endswith(path)]
    assert differences(world, harness.db) == []  # its Jira links are gone, as Bitbucket's are
    with sqlite3.connect(harness.db) as conn:
        sql = (
            "select count(*), count(deleted_at) from jira_links"
            " where found_in = 'jira' and pullrequest_id = ?"
        )
        linked, gone = conn.execute(sql, (f"dc/repo/{repo.id}/pr/{pr.id}",)).fetchone()
        assert linked == gone > 0  # it had links; each one is tombstoned
