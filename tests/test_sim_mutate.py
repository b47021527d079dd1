"""Mutations change the world like real activity and keep every invariant true."""

from __future__ import annotations

import random

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.invariants import check_invariants
from bbmirror.simulator.cloud.world import Issue, PullRequest, Repository, World
from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.common.serialize import dumps


@pytest.fixture
def world() -> World:
    return generate(11, "tiny")


@pytest.fixture
def rng() -> random.Random:
    return random.Random(5)


def _tracker_repo(world: World) -> Repository:
    return next(r for r in world.repositories.values() if r.has_issues and r.issues)


def _issue(world: World) -> tuple[Repository, Issue]:
    repo = _tracker_repo(world)
    return repo, next(iter(repo.issues.values()))


def _open_pr(world: World, rng: random.Random) -> tuple[Repository, PullRequest]:
    repo = next(iter(world.repositories.values()))
    return repo, mutate.open_pr(world, repo, rng)


def _other_member(world: World, repo: Repository, pr: PullRequest) -> str:
    ws = world.workspaces[repo.workspace]
    return next(m.user_uuid for m in ws.members if m.user_uuid != pr.author_uuid)


# -- issues ------------------------------------------------------------------------------------


def test_edit_issue_logs_old_and_new_strings(world, rng):
    repo, issue = _issue(world)
    assignee = next(u for u in world.users.values() if u.uuid != issue.assignee_uuid)
    old_state, old_priority = issue.state, issue.priority
    new_state = "on hold" if old_state != "on hold" else "open"
    new_priority = "blocker" if old_priority != "blocker" else "trivial"
    change = mutate.edit_issue(
        world,
        repo,
        issue,
        rng,
        state=new_state,
        priority=new_priority,
        assignee_uuid=assignee.uuid,
    )
    assert change is not None and issue.changes[-1] is change
    assert change.changes["state"] == {"old": old_state, "new": new_state}
    assert change.changes["priority"] == {"old": old_priority, "new": new_priority}
    assert change.changes["assignee_account_id"]["new"] == assignee.account_id
    assert change.created_on == issue.updated_on == world.clock
    assert issue.state == new_state and issue.assignee_uuid == assignee.uuid
    cleared = mutate.edit_issue(world, repo, issue, rng, assignee_uuid=None)
    assert cleared.changes["assignee_account_id"] == {"old": assignee.account_id, "new": ""}
    assert check_invariants(world) == []


def test_noop_edit_adds_nothing(world, rng):
    repo, issue = _issue(world)
    before = (len(issue.changes), issue.updated_on, world.clock, world.next_comment_id)
    assert mutate.edit_issue(world, repo, issue, rng, state=issue.state, title=issue.title) is None
    assert (len(issue.changes), issue.updated_on, world.clock, world.next_comment_id) == before


def test_edit_issue_rejects_bad_values(world, rng):
    repo, issue = _issue(world)
    with pytest.raises(ValueError):
        mutate.edit_issue(world, repo, issue, rng, state="done")
    with pytest.raises(ValueError):
        mutate.edit_issue(world, repo, issue, rng, milestone_id=999)
    assert check_invariants(world) == []


def test_content_edit_sets_edited_on_and_milestone_changes_use_names(world, rng):
    repo, issue = _issue(world)
    change = mutate.edit_issue(world, repo, issue, rng, content="New body")
    assert issue.edited_on == change.created_on
    assert change.changes["content"]["new"] == "New body"
    if repo.milestones:
        milestone = next(iter(repo.milestones.values()))
        if issue.milestone_id != milestone.id:
            change = mutate.edit_issue(world, repo, issue, rng, milestone_id=milestone.id)
            assert change.changes["milestone"]["new"] == milestone.name


def test_resolve_then_resolve_again_is_a_noop(world, rng):
    repo, issue = _issue(world)
    if issue.state == "resolved":
        mutate.edit_issue(world, repo, issue, rng, state="open")
    assert mutate.resolve_issue(world, repo, issue, rng).changes["state"]["new"] == "resolved"
    assert mutate.resolve_issue(world, repo, issue, rng) is None


def test_deleted_issue_numbers_are_not_reused(world, rng):
    repo = _tracker_repo(world)
    top = repo.issues[max(repo.issues)]
    mutate.delete_issue(world, repo, top)
    assert top.id not in repo.issues
    fresh = mutate.open_issue(world, repo, rng)
    assert fresh.id == top.id + 1
    assert check_invariants(world) == []


def test_issues_need_the_tracker(world, rng):
    repo = next(r for r in world.repositories.values() if not r.has_issues)
    with pytest.raises(ValueError):
        mutate.open_issue(world, repo, rng)


def test_soft_delete_with_replies_hard_delete_without(world, rng):
    repo, issue = _issue(world)
    parent = mutate.comment_issue(world, repo, issue, rng)
    reply = mutate.comment_issue(world, repo, issue, rng, parent_id=parent.id)
    assert mutate.delete_comment(world, issue, parent) is True
    assert parent.deleted and parent.content == "" and parent in issue.comments
    assert mutate.delete_comment(world, issue, reply) is False
    assert reply not in issue.comments
    with pytest.raises(ValueError):
        mutate.comment_issue(world, repo, issue, rng, parent_id=reply.id)
    assert check_invariants(world) == []


def test_pr_comment_count_ignores_deleted_and_hard_delete_leaves_activity(world, rng):
    repo, pr = _open_pr(world, rng)
    top = mutate.comment_pr(world, repo, pr, rng, inline=True)
    reply = mutate.comment_pr(world, repo, pr, rng, parent_id=top.id)
    lonely = mutate.comment_pr(world, repo, pr, rng)
    assert reply.inline == top.inline and top.inline["path"]
    assert pr.comment_count == 3
    mutate.delete_comment(world, pr, top)
    assert pr.comment_count == 2 and len(pr.comments) == 3
    mutate.delete_comment(world, pr, lonely)
    assert pr.comment_count == 1
    assert lonely.id not in {a.comment_id for a in pr.activity}
    assert check_invariants(world) == []


def test_issue_bumps_follow_settings(world, rng):
    repo, issue = _issue(world)
    mutate.comment_issue(world, repo, issue, rng)
    assert issue.updated_on == world.clock
    before = issue.updated_on
    mutate.vote_issue(world, repo, issue, rng)
    mutate.watch_issue(world, repo, issue, next(iter(world.users)), watch=True)
    assert issue.updated_on == before
    world.settings.comment_bumps_issue = False
    comment = mutate.comment_issue(world, repo, issue, rng)
    assert issue.updated_on == before < comment.created_on
    mutate.edit_comment(world, comment, rng)  # owner found by scanning the world
    assert issue.updated_on == before
    world.settings.vote_bumps_issue = True
    mutate.vote_issue(world, repo, issue, rng)
    assert issue.updated_on == world.clock
    attachment = mutate.attach_file(world, repo, issue, rng)
    assert issue.updated_on == attachment.created_on
    assert check_invariants(world) == []


def test_same_name_attachment_replaces_the_old_one(world, rng):
    repo, issue = _issue(world)
    names = [mutate.attach_file(world, repo, issue, rng).name for _ in range(12)]
    assert sorted(a.name for a in issue.attachments) == sorted(set(names))
    assert check_invariants(world) == []


# -- pull requests -----------------------------------------------------------------------------


def test_open_pr_creates_a_branch_with_commits(world, rng):
    repo, pr = _open_pr(world, rng)
    assert repo.branches[pr.source_branch] == pr.source_commit == pr.commit_hashes[0]
    assert all(h in repo.commits for h in pr.commit_hashes)
    assert pr.activity[0].kind == "update" and pr.activity[0].data["state"] == "OPEN"
    assert repo.updated_on <= pr.created_on == world.clock
    assert check_invariants(world) == []


def test_merge_creates_a_reachable_merge_commit(world, rng):
    repo, pr = _open_pr(world, rng)
    destination = repo.branches[pr.destination_branch]
    merge = mutate.merge_pr(world, repo, pr, rng)
    assert merge.parents == [destination, pr.source_commit]
    assert repo.branches[pr.destination_branch] == merge.hash == pr.merge_commit
    assert pr.merge_commit in ancestors(repo.commits, [repo.branches[repo.mainbranch]])
    assert pr.state == "MERGED" and pr.closed_by_uuid in world.users
    assert pr.activity[-1].data["state"] == "MERGED" and pr.updated_on == world.clock
    assert repo.updated_on == world.clock
    with pytest.raises(ValueError):
        mutate.merge_pr(world, repo, pr, rng)
    assert check_invariants(world) == []


def test_decline_records_reason_and_closer(world, rng):
    repo, pr = _open_pr(world, rng)
    mutate.decline_pr(world, repo, pr, rng)
    assert pr.state == "DECLINED" and pr.closed_by_uuid
    assert pr.activity[-1].data["state"] == "DECLINED"
    assert pr.source_branch in repo.branches
    with pytest.raises(ValueError):
        mutate.approve_pr(world, repo, pr, _other_member(world, repo, pr))
    assert check_invariants(world) == []


def test_push_to_pr_branch_updates_the_pr(world, rng):
    repo, pr = _open_pr(world, rng)
    before = len(pr.commit_hashes)
    made = mutate.push_commits(world, repo, pr.source_branch, rng, n=2)
    assert pr.source_commit == made[-1].hash == pr.commit_hashes[0]
    assert len(pr.commit_hashes) == before + 2
    assert (
        pr.activity[-1].kind == "update" and pr.activity[-1].data["source_commit"] == made[-1].hash
    )
    assert repo.updated_on == pr.updated_on == world.clock
    mutate.update_pr(world, repo, pr, rng, push=False)
    assert pr.activity[-1].data["title"] == pr.title
    assert check_invariants(world) == []


def test_approvals_and_change_requests(world, rng):
    repo, pr = _open_pr(world, rng)
    reviewer = _other_member(world, repo, pr)
    with pytest.raises(ValueError):
        mutate.approve_pr(world, repo, pr, pr.author_uuid)
    p = mutate.approve_pr(world, repo, pr, reviewer)
    assert p.approved and p.state == "approved" and p.participated_on == pr.updated_on
    count = len(pr.activity)
    mutate.approve_pr(world, repo, pr, reviewer)  # already approved: nothing happens
    assert len(pr.activity) == count
    p = mutate.request_changes(world, repo, pr, reviewer)
    assert not p.approved and p.state == "changes_requested"
    assert [a.kind for a in pr.activity[-2:]] == ["approval", "changes_requested"]
    world.settings.approval_bumps_pr = False
    before = pr.updated_on
    mutate.approve_pr(world, repo, pr, reviewer)
    assert pr.updated_on == before < world.clock
    assert check_invariants(world) == []


def test_comment_bump_on_pr_follows_settings(world, rng):
    repo, pr = _open_pr(world, rng)
    world.settings.comment_bumps_pr = False
    before = pr.updated_on
    mutate.comment_pr(world, repo, pr, rng)
    assert pr.updated_on == before
    world.settings.comment_bumps_pr = True
    comment = mutate.comment_pr(world, repo, pr, rng)
    assert pr.updated_on == comment.created_on
    assert check_invariants(world) == []


# -- repository --------------------------------------------------------------------------------


def test_force_push_drops_unreachable_commits(world, rng):
    repo, pr = _open_pr(world, rng)
    mutate.push_commits(world, repo, pr.source_branch, rng, n=3)
    old_head = pr.source_commit
    mutate.add_status(world, repo, old_head, rng)
    made = mutate.force_push(world, repo, pr.source_branch, rng)
    assert old_head not in repo.commits and old_head not in repo.statuses
    assert repo.branches[pr.source_branch] == made[-1].hash == pr.source_commit
    assert pr.commit_hashes[0] == made[-1].hash
    assert all(h in repo.commits for h in pr.commit_hashes)
    assert pr.activity[-1].data["source_commit"] == made[-1].hash
    assert check_invariants(world) == []


def test_protected_branches_refuse_rewrites_and_deletes(world, rng):
    repo = next(iter(world.repositories.values()))
    with pytest.raises(ValueError):
        mutate.force_push(world, repo, repo.mainbranch, rng)
    with pytest.raises(ValueError):
        mutate.delete_branch(world, repo, repo.mainbranch)
    _, pr = _open_pr(world, rng)
    with pytest.raises(ValueError):
        mutate.delete_branch(world, repo, pr.source_branch)


def test_deleting_a_declined_branch_keeps_the_pr_commits(world, rng):
    repo, pr = _open_pr(world, rng)
    mutate.decline_pr(world, repo, pr, rng)
    mutate.delete_branch(world, repo, pr.source_branch)
    assert pr.source_branch not in repo.branches
    assert all(h in repo.commits for h in pr.commit_hashes)
    assert check_invariants(world) == []


def test_branch_and_tag_lifecycle_drops_orphans(world, rng):
    repo = next(iter(world.repositories.values()))
    mutate.create_branch(world, repo, "spike/x", rng=rng)
    lost = mutate.push_commits(world, repo, "spike/x", rng, n=2)
    tag = mutate.create_tag(world, repo, "v99.0.0", rng, target=lost[-1].hash)
    assert tag.target == lost[-1].hash
    assert mutate.delete_branch(world, repo, "spike/x") == []  # the tag still holds them
    dropped = mutate.delete_tag(world, repo, "v99.0.0")
    assert sorted(dropped) == sorted(c.hash for c in lost)
    assert repo.updated_on == world.clock
    assert check_invariants(world) == []


def test_rename_and_settings_bump_the_repository(world, rng):
    repo = next(iter(world.repositories.values()))
    mutate.rename_repo(world, repo, "renamed-repo")
    assert world.repo(repo.workspace, "renamed-repo") is repo
    assert repo.updated_on == world.clock
    before = world.clock
    assert mutate.change_repo_settings(world, repo, description=repo.description) is False
    assert world.clock == before
    assert mutate.change_repo_settings(world, repo, description="New words") is True
    assert repo.updated_on == world.clock > before
    with pytest.raises(ValueError):
        mutate.rename_repo(world, repo, "Bad Slug")


def test_status_updates_keep_created_on(world, rng):
    repo = next(iter(world.repositories.values()))
    head = repo.branches[repo.mainbranch]
    first = mutate.add_status(world, repo, head, rng)
    for _ in range(6):
        mutate.add_status(world, repo, head, rng)
    assert first.created_on <= first.updated_on
    keys = [s.key for s in repo.statuses[head]]
    assert len(keys) == len(set(keys))
    assert check_invariants(world) == []


# -- random activity ---------------------------------------------------------------------------


def test_random_activity_is_deterministic():
    a, b = generate(4, "tiny"), generate(4, "tiny")
    log_a = mutate.random_activity(a, 120, random.Random(9))
    log_b = mutate.random_activity(b, 120, random.Random(9))
    assert log_a == log_b and len(log_a) == 120
    assert dumps(a) == dumps(b)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), n=st.integers(1, 200), flipped=st.booleans())
def test_random_activity_keeps_every_invariant(seed, n, flipped):
    world = generate(seed, "tiny")
    if flipped:  # every bump switch flipped from its default
        s = world.settings
        s.comment_bumps_issue = s.attachment_bumps_issue = False
        s.comment_bumps_pr = s.approval_bumps_pr = False
        s.vote_bumps_issue = s.status_bumps_pr = True
    clock = world.clock
    done = mutate.random_activity(world, n, random.Random(seed))
    assert len(done) == n
    assert world.clock >= clock
    assert check_invariants(world) == []
