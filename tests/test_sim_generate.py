"""The world generator: deterministic, internally consistent and realistic enough to test with."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from bbmirror.simulator.cloud.generate import SIZES, Size, generate
from bbmirror.simulator.cloud.invariants import check_invariants
from bbmirror.simulator.cloud.issue_fields import bumps_pr, issue_updated_on
from bbmirror.simulator.cloud.world import World
from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.common.serialize import dumps, loads


def _comments(world: World):
    for repo in world.repositories.values():
        for owner in (*repo.issues.values(), *repo.pullrequests.values()):
            yield from owner.comments


def test_same_seed_same_world_and_different_seeds_differ():
    first = dumps(generate(7, "small"))
    assert first == dumps(generate(7, "small"))
    assert first != dumps(generate(8, "small"))


@pytest.mark.parametrize(("seed", "size"), [(0, "tiny"), (1, "tiny"), (2, "tiny"), (0, "small")])
def test_generated_worlds_satisfy_every_invariant(seed, size):
    assert check_invariants(generate(seed, size)) == []


def test_tiny_world_has_the_requested_counts_and_edge_cases():
    world = generate(3, "tiny")
    repos = list(world.repositories.values())
    size = SIZES["tiny"]
    assert len(world.workspaces) == size.workspaces
    assert len(world.users) == size.users
    assert len(repos) == size.repos
    assert sum(len(r.pullrequests) for r in repos) == size.prs
    assert sum(len(r.issues) for r in repos) == size.issues
    assert sum(1 for _ in _comments(world)) == size.comments
    states = {pr.state for r in repos for pr in r.pullrequests.values()}
    assert states == {"OPEN", "MERGED", "DECLINED", "SUPERSEDED"}
    assert any(not r.has_issues and not r.issues for r in repos)
    assert any(r.has_issues and not r.issues for r in repos)


def test_custom_size_is_honoured():
    world = generate(
        1, Size(workspaces=2, users=5, repos=2, prs=4, issues=3, comments=10, commits=20)
    )
    assert len(world.workspaces) == 2
    assert sum(len(r.pullrequests) for r in world.repositories.values()) == 4


def test_users_look_like_bitbucket_accounts():
    world = generate(0, "small")
    names = {u.display_name for u in world.users.values()}
    assert {"Zoë Ångström", "李雷"} <= names
    for user in world.users.values():
        assert re.fullmatch(r"\{[0-9a-f-]{36}\}", user.uuid)
        assert re.fullmatch(r"557058:[0-9a-f-]{36}|[0-9a-f]{24}", user.account_id)
        assert re.fullmatch(r"[a-z0-9]+", user.nickname)
    assert len({u.nickname for u in world.users.values()}) == len(world.users)


def test_commits_form_a_dag_with_merges_offsets_and_unknown_authors():
    world = generate(0, "small")
    commits = [c for r in world.repositories.values() for c in r.commits.values()]
    assert any(len(c.parents) == 2 for c in commits)
    assert sum(1 for c in commits if not c.parents) == len(world.repositories)
    assert any(c.author_uuid is None for c in commits)
    assert any(not c.date.endswith("+00:00") for c in commits)
    assert any("\n" in c.message for c in commits)
    assert any(len(c.message) > 2000 for c in commits)
    for c in commits:
        assert datetime.fromisoformat(c.date).microsecond == 0


def test_merged_prs_are_reachable_from_their_destination():
    world = generate(5, "small")
    for repo in world.repositories.values():
        main = ancestors(repo.commits, [repo.branches[repo.mainbranch]])
        for pr in repo.pullrequests.values():
            if pr.state == "MERGED":
                assert pr.merge_commit in main
                assert repo.commits[pr.merge_commit].parents == [
                    pr.destination_commit,
                    pr.source_commit,
                ]
                assert set(pr.commit_hashes) <= main
            else:
                assert pr.merge_commit is None


def test_updated_on_is_the_latest_bumping_event():
    world = generate(2, "small")
    for repo in world.repositories.values():
        for issue in repo.issues.values():
            assert issue.updated_on == issue_updated_on(world, issue)
        for pr in repo.pullrequests.values():
            latest = max(
                [a.date for a in pr.activity if bumps_pr(world, a.kind)]
                + [c.updated_on for c in pr.comments]
            )
            assert pr.updated_on == latest


def test_change_logs_use_strings_and_empty_for_cleared():
    world = generate(4, "small")
    changes = [
        ch for r in world.repositories.values() for i in r.issues.values() for ch in i.changes
    ]
    assert changes
    fields = {name for ch in changes for name in ch.changes}
    assert {"state", "assignee_account_id"} <= fields
    for ch in changes:
        for pair in ch.changes.values():
            assert set(pair) == {"old", "new"}
            assert isinstance(pair["old"], str) and isinstance(pair["new"], str)
    assert len({ch.id for ch in changes}) == len(changes)


def test_comments_include_replies_soft_deletes_inline_and_huge_bodies():
    world = generate(1, "small")
    comments = list(_comments(world))
    ids = [c.id for c in comments]
    assert len(set(ids)) == len(ids)
    deleted = [c for c in comments if c.deleted]
    assert deleted and all(c.content == "" for c in deleted)
    parents = {c.parent_id for c in comments}
    assert all(c.id in parents for c in deleted)
    inline = [c.inline for c in comments if c.inline]
    assert any(i["from"] is None for i in inline) and any(i["to"] is None for i in inline)
    bodies = [i.content for r in world.repositories.values() for i in r.issues.values()]
    assert max(len(b.encode()) for b in bodies) > 20_000


def test_timestamps_are_utc_microseconds_and_within_the_clock():
    world = generate(0, "tiny")
    stamps = [pr.updated_on for r in world.repositories.values() for pr in r.pullrequests.values()]
    assert all(re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{6}\+00:00", s) for s in stamps)
    assert max(stamps) <= world.clock


def test_serialization_round_trips():
    world = generate(9, "tiny")
    data = dumps(world)
    again = loads(data, World)
    assert again == world
    assert dumps(again) == data
    repo = next(iter(again.repositories.values()))
    assert list(repo.commits) == list(world.repositories[repo.uuid].commits)


def test_invariant_checker_reports_broken_worlds():
    world = generate(0, "tiny")
    repo = next(r for r in world.repositories.values() if r.issues)
    issue = next(iter(repo.issues.values()))
    issue.updated_on = "1999-01-01T00:00:00.000000+00:00"
    pr = next(p for p in repo.pullrequests.values() if p.state == "MERGED")
    pr.merge_commit = "0" * 40
    problems = check_invariants(world)
    assert any(f"#{issue.id}" in p and "created_on" in p for p in problems)
    assert any(f"#{pr.id}" in p and "merge commit" in p for p in problems)
