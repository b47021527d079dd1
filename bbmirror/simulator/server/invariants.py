"""Consistency checks for a Server world: what generation and every mutation must preserve.

``check_dc_invariants(world)`` returns one line per problem (tests assert it is empty): unique
global ids, activity ids increasing with time, state/closedDate/version/updatedDate implied by
each PR's activities, threads matching COMMENTED items, participants, and a commit DAG whose
refs, PR commits and merge commits all exist (merge commits reachable from the target).
"""

from __future__ import annotations

from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.server.world import (
    PR_STATES,
    REVIEW_STATUSES,
    DcPullRequest,
    DcRepository,
    DcWorld,
    expected_updated,
    expected_version,
)

STATE_AFTER = {"OPENED": "OPEN", "REOPENED": "OPEN", "MERGED": "MERGED", "DECLINED": "DECLINED"}


def _pr_problems(world: DcWorld, repo: DcRepository, pr: DcPullRequest) -> list[str]:
    where = f"{repo.slug}#{pr.id}"
    out: list[str] = []
    if pr.state not in PR_STATES:
        out.append(f"{where}: bad state {pr.state}")
    if (pr.closed is None) != (pr.state == "OPEN"):
        out.append(f"{where}: closedDate {pr.closed} with state {pr.state}")
    if not pr.activities or pr.activities[0].action != "OPENED":
        out.append(f"{where}: first activity is not OPENED")
    elif pr.activities[0].created != pr.created:
        out.append(f"{where}: OPENED at {pr.activities[0].created}, created {pr.created}")
    times = [a.created for a in pr.activities]
    ids = [a.id for a in pr.activities]
    if times != sorted(times) or ids != sorted(ids):
        out.append(f"{where}: activities out of order")
    moves = [a for a in pr.activities if a.action in STATE_AFTER]
    if moves and STATE_AFTER[moves[-1].action] != pr.state:
        out.append(f"{where}: last state activity {moves[-1].action} but state {pr.state}")
    if pr.closed is not None and moves and moves[-1].created != pr.closed:
        out.append(f"{where}: closedDate {pr.closed} != {moves[-1].created}")
    if pr.version != expected_version(pr):
        out.append(f"{where}: version {pr.version} != {expected_version(pr)}")
    if pr.updated != expected_updated(pr, world.settings):
        out.append(f"{where}: updatedDate {pr.updated} != {expected_updated(pr, world.settings)}")
    roots = {c.id for c in pr.comments}
    commented = [a.comment_id for a in pr.activities if a.action == "COMMENTED"]
    if sorted(c for c in commented if c is not None) != sorted(roots):
        out.append(f"{where}: COMMENTED activities do not match the thread roots")
    for c in pr.all_comments(deleted=True):
        if c.updated < c.created:
            out.append(f"{where}: comment {c.id} updated before created")
        if c.deleted and any(not r.deleted for r in c.replies):
            out.append(f"{where}: deleted comment {c.id} has visible replies")
        if any(r.created < c.created for r in c.replies):
            out.append(f"{where}: comment {c.id} has a reply older than itself")
    people = [p.user_id for p in pr.reviewers + pr.participants]
    if len(people) != len(set(people)) or pr.author_id in people:
        out.append(f"{where}: duplicate participants or the author among them")
    for p in pr.reviewers + pr.participants:
        want = "REVIEWER" if p in pr.reviewers else "PARTICIPANT"
        if p.role != want or p.status not in REVIEW_STATUSES or p.user_id not in world.users:
            out.append(f"{where}: bad participant {p}")
    for sha in [pr.from_commit, pr.to_commit, *pr.commit_ids]:
        if sha not in repo.commits:
            out.append(f"{where}: unknown commit {sha}")
    if pr.state == "OPEN" and repo.branches.get(pr.from_branch) != pr.from_commit:
        out.append(f"{where}: open PR source branch is not at fromRef.latestCommit")
    if pr.state == "MERGED":
        merge = pr.merge_commit
        head = repo.branches.get(pr.to_branch)
        if merge not in repo.commits or pr.from_commit not in repo.commits[merge].parents:
            out.append(f"{where}: merge commit {merge} missing or not a merge of the source")
        elif head is not None and merge not in ancestors(repo.commits, [head]):
            out.append(f"{where}: merge commit not reachable from {pr.to_branch}")
    if pr.id > repo.last_pr_id:
        out.append(f"{where}: id above last_pr_id {repo.last_pr_id}")
    return out


def _repo_problems(world: DcWorld, repo: DcRepository) -> list[str]:
    out = []
    if repo.project_id not in world.projects:
        out.append(f"repo {repo.id}: unknown project {repo.project_id}")
    for sha, c in repo.commits.items():
        for parent in c.parents:
            if parent not in repo.commits:
                out.append(f"{repo.slug}: {sha} has unknown parent {parent}")
            elif repo.commits[parent].committer_ts > c.committer_ts:
                out.append(f"{repo.slug}: {sha} is older than its parent")
    for name, head in repo.branches.items():
        if head not in repo.commits:
            out.append(f"{repo.slug}: branch {name} at unknown {head}")
    for name, tag in repo.tags.items():
        if tag.target not in repo.commits:
            out.append(f"{repo.slug}: tag {name} at unknown {tag.target}")
    if repo.default_branch not in repo.branches:
        out.append(f"{repo.slug}: default branch {repo.default_branch} missing")
    for pr in repo.pull_requests.values():
        out += _pr_problems(world, repo, pr)
    return out


def check_dc_invariants(world: DcWorld) -> list[str]:
    """Every inconsistency in the world, one line each (empty when all is well)."""
    out: list[str] = []
    keys = [p.key.upper() for p in world.projects.values()]
    if len(keys) != len(set(keys)):
        out.append("duplicate project keys")
    slugs = [(r.project_id, r.slug.lower()) for r in world.repositories.values()]
    if len(slugs) != len(set(slugs)):
        out.append("duplicate repository slugs within a project")
    comment_ids: list[int] = []
    activity_ids: list[int] = []
    for repo in world.repositories.values():
        out += _repo_problems(world, repo)
        for pr in repo.pull_requests.values():
            comment_ids += [c.id for c in pr.all_comments(deleted=True)]
            activity_ids += [a.id for a in pr.activities]
    if len(comment_ids) != len(set(comment_ids)):
        out.append("comment ids are not unique")
    if len(activity_ids) != len(set(activity_ids)):
        out.append("activity ids are not unique")
    if comment_ids and max(comment_ids) >= world.next_comment_id:
        out.append("a comment id is not below next_comment_id")
    if activity_ids and max(activity_ids) >= world.next_activity_id:
        out.append("an activity id is not below next_activity_id")
    return out
