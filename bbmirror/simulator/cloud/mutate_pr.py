"""Cloud world mutations on pull requests: open, update, review, comment, merge, decline."""

from __future__ import annotations

import random
import re
from functools import partial

from bbmirror.simulator.cloud.history import author_raw, member_uuids
from bbmirror.simulator.cloud.mutate_code import (
    _make_commit,
    _protected,
    _record_update,
    create_branch,
    push_commits,
)
from bbmirror.simulator.cloud.mutate_issues import (
    _actor,
    _bump_for_comment,
    _new_comment,
    _now,
    _parent,
)
from bbmirror.simulator.cloud.world import (
    Activity,
    Comment,
    Commit,
    Participant,
    PullRequest,
    Repository,
    World,
)
from bbmirror.simulator.common.pools import (
    PATHS,
    REASONS,
    SENTENCES,
    markdown,
    short_markdown,
    title,
)


def _require_open(pr: PullRequest) -> None:
    if pr.state != "OPEN":
        raise ValueError(f"pull request #{pr.id} is {pr.state}; only open ones can change")


def open_pr(world: World, repo: Repository, rng: random.Random) -> PullRequest:
    """Branch off the main branch, push one to three commits, and open a PR for them."""
    members = member_uuids(world, repo)
    author = rng.choice(members)
    number = max(repo.pullrequests, default=0) + 1
    pr_title = title(rng)
    words = "-".join(pr_title.lower().split()[1:3])
    branch = f"feature/{repo.project_key or 'X'}-{number}-{re.sub(r'[^a-z0-9-]', '', words)}"
    while branch in repo.branches:
        branch += "-2"
    base = repo.branches[repo.mainbranch]
    create_branch(world, repo, branch, base, rng)
    made = push_commits(world, repo, branch, rng, n=rng.randint(1, 3), author_uuid=author)
    t = _now(world, rng)
    others = [m for m in members if m != author]
    reviewers = rng.sample(others, min(len(others), rng.choice((0, 1, 1, 2))))
    pr = PullRequest(
        id=number,
        title=pr_title,
        description=markdown(rng, rng.randint(0, 2)) if rng.random() < 0.8 else "",
        state="OPEN",
        author_uuid=author,
        source_branch=branch,
        source_commit=made[-1].hash,
        destination_branch=repo.mainbranch,
        destination_commit=repo.branches[repo.mainbranch],
        created_on=t,
        updated_on=t,
        close_source_branch=rng.random() < 0.6,
        reviewer_uuids=reviewers,
        participants=[Participant(r, "REVIEWER") for r in reviewers],
        commit_hashes=[c.hash for c in reversed(made)],
    )
    repo.pullrequests[number] = pr
    _record_update(pr, author, t)
    return pr


def update_pr(
    world: World,
    repo: Repository,
    pr: PullRequest,
    rng: random.Random,
    push: bool | None = None,
) -> Activity:
    """Push commits to the source branch or edit title/description; logs an ``update``."""
    _require_open(pr)
    if push is None:
        push = rng.random() < 0.5
    if push:
        push_commits(world, repo, pr.source_branch, rng, rng.randint(1, 2), pr.author_uuid)
        return pr.activity[-1]
    t = _now(world, rng)
    if rng.random() < 0.5:
        new_title = title(rng)
        pr.title = new_title if new_title != pr.title else f"{new_title} (v2)"
    else:
        pr.description = f"{pr.description}\n\n{rng.choice(SENTENCES)}".strip()
    return _record_update(pr, pr.author_uuid, t)


def _participant(pr: PullRequest, user_uuid: str) -> Participant:
    for p in pr.participants:
        if p.user_uuid == user_uuid:
            return p
    role = "REVIEWER" if user_uuid in pr.reviewer_uuids else "PARTICIPANT"
    p = Participant(user_uuid, role)
    pr.participants.append(p)
    return p


VOTE_STATES = {"approval": "approved", "changes_requested": "changes_requested"}  # kind: state


def vote_pr(
    world: World,
    repo: Repository,
    pr: PullRequest,
    user_uuid: str,
    rng: random.Random | None = None,
    *,
    kind: str,
) -> Participant:
    """Approve (replacing a change request) or request changes (withdrawing an approval), as
    ``kind`` says; a no-op if that vote stands already."""
    _require_open(pr)
    if user_uuid not in world.users:
        raise ValueError(f"unknown user {user_uuid}")
    if user_uuid == pr.author_uuid:
        raise ValueError("authors cannot approve or request changes on their own PR")
    p = _participant(pr, user_uuid)
    state = VOTE_STATES[kind]
    if p.state == state:
        return p
    t = _now(world, rng)
    p.approved, p.state, p.participated_on = kind == "approval", state, t
    pr.activity.append(Activity(kind, t, user_uuid))
    if world.settings.approval_bumps_pr:
        pr.updated_on = t
    return p


approve_pr = partial(vote_pr, kind="approval")
request_changes = partial(vote_pr, kind="changes_requested")


def comment_pr(
    world: World,
    repo: Repository,
    pr: PullRequest,
    rng: random.Random,
    inline: bool = False,
    parent_id: int | None = None,
) -> Comment:
    """Comment on a PR (closed ones too); replies inherit their parent's inline anchor."""
    parent = _parent(pr, parent_id)
    regulars = [pr.author_uuid, *pr.reviewer_uuids]
    user = rng.choice(regulars) if rng.random() < 0.6 else _actor(world, repo, rng)
    t = _now(world, rng)
    comment = _new_comment(world, user, t, short_markdown(rng), parent_id)
    if parent is not None:
        comment.inline = dict(parent.inline) if parent.inline else None
    elif inline:
        line = rng.randint(1, 400)
        lines = (None, line) if rng.random() < 0.6 else (line, None)
        comment.inline = {"path": rng.choice(PATHS), "from": lines[0], "to": lines[1]}
    pr.comments.append(comment)
    pr.activity.append(Activity("comment", t, user, comment_id=comment.id))
    if user != pr.author_uuid:
        p = _participant(pr, user)
        if not p.approved:
            p.participated_on = t
    _bump_for_comment(world, pr, t)
    return comment


def _closer(pr: PullRequest, rng: random.Random) -> str:
    approvers = [p.user_uuid for p in pr.participants if p.approved]
    return rng.choice(approvers or [pr.author_uuid, *pr.reviewer_uuids])


def merge_pr(world: World, repo: Repository, pr: PullRequest, rng: random.Random) -> Commit:
    """Merge with a merge commit on the destination branch (the default strategy, §3.11)."""
    _require_open(pr)
    destination = repo.branches[pr.destination_branch]
    closer = _closer(pr, rng)
    t = _now(world, rng)
    message = f"Merged in {pr.source_branch} (pull request #{pr.id})\n\n{pr.title}"
    raw = author_raw(world.users[closer])
    merge = _make_commit(repo, [destination, pr.source_commit], t, message, closer, raw, rng)
    repo.branches[pr.destination_branch] = merge.hash
    repo.updated_on = t
    pr.state, pr.merge_commit, pr.closed_by_uuid = "MERGED", merge.hash, closer
    pr.destination_commit = destination
    _record_update(pr, closer, t)
    source = pr.source_branch
    still_used = any(
        other.state == "OPEN" and other.source_branch == source
        for other in repo.pullrequests.values()
    )
    if pr.close_source_branch and not still_used and _protected(repo, source) is None:
        repo.branches.pop(source, None)
    return merge


def decline_pr(world: World, repo: Repository, pr: PullRequest, rng: random.Random) -> None:
    """Decline with a reason; the source branch stays."""
    _require_open(pr)
    t = _now(world, rng)
    pr.state = "DECLINED"
    pr.closed_by_uuid = rng.choice([pr.author_uuid, *pr.reviewer_uuids])
    pr.reason = rng.choice(REASONS)
    pr.destination_commit = repo.branches.get(pr.destination_branch, pr.destination_commit)
    _record_update(pr, pr.closed_by_uuid, t)
