"""The Server/DC world: deterministic, realistic generation and mutations that stay consistent."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.common.serialize import dumps
from bbmirror.simulator.server import mutate
from bbmirror.simulator.server.generate import SIZES, generate_dc
from bbmirror.simulator.server.invariants import check_dc_invariants
from bbmirror.simulator.server.world import (
    DcPullRequest,
    DcRepository,
    DcSettings,
    DcWorld,
    commit_log,
    jira_keys,
)


@pytest.fixture
def world() -> DcWorld:
    return generate_dc(11, "tiny")


@pytest.fixture(scope="module")
def small() -> DcWorld:
    return generate_dc(4, "small")


@pytest.fixture
def rng() -> random.Random:
    return random.Random(5)


def _repo(world: DcWorld) -> DcRepository:
    return next(iter(world.repositories.values()))


def _open(world: DcWorld, rng: random.Random) -> tuple[DcRepository, DcPullRequest]:
    repo = _repo(world)
    return repo, mutate.open_pr(world, repo, rng)


def _prs(world: DcWorld) -> list[DcPullRequest]:
    return [pr for r in world.repositories.values() for pr in r.pull_requests.values()]


# --- generation --------------------------------------------------------------------------------


def test_same_seed_same_world_and_different_seed_different_world():
    assert dumps(generate_dc(7, "tiny")) == dumps(generate_dc(7, "tiny"))
    assert dumps(generate_dc(7, "small")) == dumps(generate_dc(7, "small"))
    assert dumps(generate_dc(7, "tiny")) != dumps(generate_dc(8, "tiny"))


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_sizes_are_honoured(size):
    w = generate_dc(2, size)
    want = SIZES[size]
    assert len(w.repositories) == want.repos
    assert len(w.users) == want.users
    assert len(_prs(w)) == want.prs
    assert sum(len(list(p.all_comments(deleted=True))) for p in _prs(w)) == want.comments
    assert sum(len(r.commits) for r in w.repositories.values()) >= want.commits


def test_medium_meets_the_issue_minimums():
    w = generate_dc(1, "medium")
    assert len(w.repositories) >= 5
    assert len(_prs(w)) >= 5000
    assert sum(len(list(p.all_comments(deleted=True))) for p in _prs(w)) >= 20000
    assert sum(len(r.commits) for r in w.repositories.values()) >= 20000


@pytest.mark.parametrize("bumps", [True, False])
def test_generated_worlds_are_consistent_under_both_comment_settings(bumps):
    w = generate_dc(9, "small", DcSettings(comment_bumps_pr=bumps))
    assert check_dc_invariants(w) == []
    late = [
        pr for pr in _prs(w) if any(c.updated > pr.updated for c in pr.all_comments(deleted=True))
    ]
    assert (late == []) is bumps  # without the bump some comment is newer than updatedDate


def test_small_world_has_every_activity_kind_and_realistic_detail(small):
    actions = Counter(a.action for pr in _prs(small) for a in pr.activities)
    for action in ("OPENED", "UPDATED", "RESCOPED", "COMMENTED", "APPROVED", "UNAPPROVED"):
        assert actions[action] > 0, action
    for action in ("REVIEWED", "MERGED", "DECLINED", "REOPENED"):
        assert actions[action] > 0, action
    comments = [c for pr in _prs(small) for c in pr.all_comments(deleted=True)]
    assert any(c.deleted for c in comments)
    assert any(c.severity == "BLOCKER" and c.state == "RESOLVED" for c in comments)
    assert any(c.version > 0 and c.updated > c.created for c in comments)
    assert any(c.anchor and c.anchor["path"] for c in comments)
    assert any(r.replies and any(x.replies for x in r.replies) for r in comments)  # depth ≥ 2
    statuses = Counter(p.status for pr in _prs(small) for p in pr.reviewers + pr.participants)
    assert set(statuses) == {"APPROVED", "NEEDS_WORK", "UNAPPROVED"}
    assert any(r.builds for r in small.repositories.values())
    assert any(t.hash is None for r in small.repositories.values() for t in r.tags.values())
    assert any(u.name != u.slug for u in small.users.values())


def test_personal_project_and_numeric_ids(small):
    personal = [p for p in small.projects.values() if p.type == "PERSONAL"]
    assert personal and personal[0].key.startswith("~") and personal[0].key.isupper()
    assert any(r.project_id == personal[0].id for r in small.repositories.values())
    for repo in small.repositories.values():
        assert sorted(repo.pull_requests) == list(range(1, len(repo.pull_requests) + 1))


def test_jira_keys_appear_in_titles_branches_and_commit_messages(small):
    prs = _prs(small)
    assert sum(bool(jira_keys(pr.title)) for pr in prs) > len(prs) // 4
    assert sum(bool(jira_keys(pr.from_branch)) for pr in prs) > len(prs) // 3
    messages = [c.message for r in small.repositories.values() for c in r.commits.values()]
    assert sum(bool(jira_keys(m)) for m in messages) > len(messages) // 4
    assert jira_keys("ABC-12 fix; see PLAT-3 and ABC-12") == ["ABC-12", "PLAT-3"]


def test_merged_prs_have_a_merge_commit_reachable_from_the_target(small):
    for repo in small.repositories.values():
        reach = ancestors(repo.commits, [repo.branches[repo.default_branch]])
        for pr in repo.pull_requests.values():
            if pr.state == "MERGED":
                assert pr.merge_commit in reach
                assert repo.commits[pr.merge_commit].parents[1] == pr.from_commit


def test_commit_log_is_a_graph_range_newest_first(small):
    repo = _repo(small)
    head = repo.branches[repo.default_branch]
    merged = next(pr for pr in repo.pull_requests.values() if pr.state == "MERGED")
    log = commit_log(repo, head, merged.merge_commit)
    assert set(log) == ancestors(repo.commits, [head]) - ancestors(
        repo.commits, [merged.merge_commit]
    )
    position = {sha: i for i, sha in enumerate(log)}
    for sha in log:
        for parent in repo.commits[sha].parents:
            assert parent not in position or position[parent] > position[sha]


# --- mutations ---------------------------------------------------------------------------------


def test_open_pr_and_comment_threads(world, rng):
    repo, pr = _open(world, rng)
    assert pr.id == max(repo.pull_requests) and pr.version == 0
    assert pr.activities[-1].action == "OPENED" and pr.commit_ids
    root = mutate.comment_pr(world, pr, 2, "Looks good")
    reply = mutate.comment_pr(world, pr, 3, "Thanks", parent=root)
    deeper = mutate.comment_pr(world, pr, 2, "Nested", parent=reply)
    assert [a.action for a in pr.activities].count("COMMENTED") == 1
    assert pr.activities[-1].comment_id == root.id
    assert root.replies == [reply] and reply.replies == [deeper]
    assert root.id < reply.id < deeper.id
    assert pr.updated == deeper.created and pr.version == 0
    assert check_dc_invariants(world) == []


def test_comment_switch_controls_updated_date(rng):
    for bumps in (True, False):
        w = generate_dc(11, "tiny", DcSettings(comment_bumps_pr=bumps))
        repo, pr = _open(w, rng)
        before = pr.updated
        root = mutate.comment_pr(w, pr, 2, "Hello")
        mutate.edit_comment(w, pr, root, "Hello again")
        assert root.version == 1 and root.updated > root.created
        assert (pr.updated == root.updated) is bumps
        assert (pr.updated == before) is not bumps
        assert check_dc_invariants(w) == []


def test_delete_comment_only_without_replies(world, rng):
    _, pr = _open(world, rng)
    root = mutate.comment_pr(world, pr, 2, "Parent")
    reply = mutate.comment_pr(world, pr, 3, "Child", parent=root)
    assert mutate.delete_comment(world, pr, root) is False  # 409 on Server
    assert mutate.delete_comment(world, pr, reply) is True
    assert pr.comment(reply.id) is None and reply.deleted
    assert mutate.delete_comment(world, pr, root) is True
    assert list(pr.all_comments()) == []
    assert check_dc_invariants(world) == []


def test_tasks_resolve_with_a_version_bump(world, rng):
    _, pr = _open(world, rng)
    task = mutate.comment_pr(world, pr, 2, "Add a test", blocker=True)
    mutate.resolve_task(world, pr, task)
    assert (task.severity, task.state, task.version) == ("BLOCKER", "RESOLVED", 1)


def test_reviews_update_participants_and_activities(world, rng):
    _, pr = _open(world, rng)
    outsider = max(world.users)
    assert mutate.approve(world, pr, outsider)
    person = pr.person(outsider)
    assert person and person.role == "PARTICIPANT" and person.approved
    assert person.last_reviewed_commit == pr.from_commit
    assert mutate.needs_work(world, pr, outsider) and person.status == "NEEDS_WORK"
    assert mutate.unapprove(world, pr, outsider) and person.status == "UNAPPROVED"
    assert mutate.unapprove(world, pr, outsider) is False  # nothing to change
    assert [a.action for a in pr.activities[-3:]] == ["APPROVED", "REVIEWED", "UNAPPROVED"]
    assert pr.version == 0 and pr.updated == pr.activities[-1].created
    assert mutate.approve(world, pr, pr.author_id) is False


def test_update_pr_versions_and_reviewer_removal_keeps_participant(world, rng):
    _, pr = _open(world, rng)
    newcomer = next(u for u in world.users if u != pr.author_id and not pr.person(u))
    done = mutate.update_pr(world, _repo(world), pr, title_="New title", add=[newcomer])
    assert done and done.data["previousTitle"] != "New title" and pr.version == 1
    assert mutate.update_pr(world, _repo(world), pr, remove=[newcomer])
    assert pr.version == 2 and pr.person(newcomer).role == "PARTICIPANT"
    assert mutate.update_pr(world, _repo(world), pr, title_="New title") is None
    assert check_dc_invariants(world) == []


def test_rescope_and_force_push(world, rng):
    repo, pr = _open(world, rng)
    old_tip = pr.from_commit
    added = mutate.rescope(world, repo, pr, rng)
    scope = pr.activities[-1]
    assert scope.action == "RESCOPED" and scope.data["previousFromHash"] == old_tip
    assert scope.data["added"] == pr.commit_ids[: len(added)] and pr.version == 1
    tip = pr.from_commit
    mutate.force_push(world, repo, pr.from_branch, rng)
    scope = pr.activities[-1]
    assert scope.data["removed"] == [tip] and tip not in pr.commit_ids
    assert repo.branches[pr.from_branch] == pr.from_commit and pr.version == 2
    assert check_dc_invariants(world) == []


def test_merge_decline_reopen_delete(world, rng):
    repo, pr = _open(world, rng)
    merge = mutate.merge_pr(world, repo, pr, pr.author_id)
    assert pr.state == "MERGED" and pr.closed and repo.branches[pr.to_branch] == merge
    with pytest.raises(ValueError):
        mutate.decline_pr(world, pr, pr.author_id)
    _, other = _open(world, rng)
    mutate.decline_pr(world, other, other.author_id)
    assert mutate.reopen_pr(world, repo, other, other.author_id)
    assert other.state == "OPEN" and other.closed is None and other.version == 2
    assert check_dc_invariants(world) == []
    mutate.delete_pr(world, repo, other)
    assert other.id not in repo.pull_requests
    assert mutate.open_pr(world, repo, rng).id == other.id + 1  # ids are never reused


def test_rename_and_move_repository(world):
    repo = _repo(world)
    assert mutate.rename_repo(world, repo, "Shiny New Name")
    assert repo.slug == "shiny-new-name"
    target = next(p for p in world.projects.values() if p.id != repo.project_id)
    assert mutate.move_repo(world, repo, target)
    assert world.repo(target.key, "shiny-new-name") is repo
    assert check_dc_invariants(world) == []


def test_branches_tags_and_builds(world, rng):
    repo = _repo(world)
    mutate.create_branch(world, repo, "spike")
    assert mutate.delete_branch(world, repo, repo.default_branch) is False
    assert mutate.delete_branch(world, repo, "spike") and "spike" not in repo.branches
    made = mutate.create_tag(world, repo, "v9.9.9", annotated=False)
    assert made.hash is None and repo.tags["v9.9.9"].target == repo.branches[repo.default_branch]
    sha = repo.branches[repo.default_branch]
    build = mutate.add_build(world, repo, sha, rng)
    assert build in repo.builds[sha] and build.date_added == world.clock


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), bumps=st.booleans())
def test_random_activity_keeps_every_invariant(seed, n, bumps):
    w = generate_dc(seed % 5, "tiny", DcSettings(comment_bumps_pr=bumps))
    done = mutate.random_activity(w, n, random.Random(seed))
    assert len(done) == n
    assert check_dc_invariants(w) == []
