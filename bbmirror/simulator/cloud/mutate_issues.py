"""Cloud world mutations on issues and comments, and the clock and actor helpers all use."""

from __future__ import annotations

import random

from bbmirror.simulator.cloud.history import member_uuids
from bbmirror.simulator.cloud.issue_fields import (
    apply_issue_fields,
    issue_changes,
    random_issue_fields,
)
from bbmirror.simulator.cloud.world import (
    ISSUE_KINDS,
    ISSUE_PRIORITIES,
    Attachment,
    Comment,
    Issue,
    IssueChange,
    PullRequest,
    Repository,
    World,
)
from bbmirror.simulator.common.pools import (
    ATTACHMENT_NAMES,
    markdown,
    short_markdown,
    title,
)

Owner = Issue | PullRequest


def _now(world: World, rng: random.Random | None = None) -> str:
    """Advance the clock by a plausible gap (a second when no rng is given) and return it."""
    return world.tick(rng.uniform(1.0, 900.0) if rng else 1.0)


def _actor(world: World, repo: Repository, rng: random.Random) -> str:
    return rng.choice(member_uuids(world, repo))


def _tracker(repo: Repository) -> None:
    if not repo.has_issues:
        raise ValueError(f"{repo.full_name} does not have the issue tracker enabled")


def open_issue(world: World, repo: Repository, rng: random.Random) -> Issue:
    """Report a new issue; its number is one above any ever handed out in the repository."""
    _tracker(repo)
    members = member_uuids(world, repo)
    t = _now(world, rng)
    number = max(repo.last_issue_id, max(repo.issues, default=0)) + 1
    repo.last_issue_id = number
    reporter = rng.choice(members)
    issue = Issue(
        id=number,
        title=title(rng),
        reporter_uuid=reporter,
        assignee_uuid=rng.choice(members) if rng.random() < 0.3 else None,
        state="new",
        kind=rng.choice(ISSUE_KINDS),
        priority=rng.choice(ISSUE_PRIORITIES),
        content=markdown(rng, rng.randint(1, 3)),
        created_on=t,
        updated_on=t,
        watcher_uuids=[reporter],
    )
    repo.issues[number] = issue
    return issue


def edit_issue(
    world: World, repo: Repository, issue: Issue, rng: random.Random, **fields: object
) -> IssueChange | None:
    """Set fields (random ones when none are given); one change record, or None for a no-op.

    ``fields`` are among title, state, kind, priority, assignee_uuid, milestone_id, version_id,
    component_id and content. The change record holds old/new strings for each changed field
    (§4.2); a content edit also sets ``edited_on``.
    """
    members = member_uuids(world, repo)
    if not fields:
        fields = random_issue_fields(rng, repo, issue, members)
    changes = issue_changes(world, repo, issue, fields)
    if not changes:
        return None
    t = _now(world, rng)
    apply_issue_fields(issue, fields)
    if "content" in changes:
        issue.edited_on = t
    user = rng.choice(
        [issue.reporter_uuid, *([issue.assignee_uuid] if issue.assignee_uuid else [])]
    )
    if rng.random() < 0.3:
        user = rng.choice(members)
    message = "" if rng.random() < 0.5 else short_markdown(rng)
    change = IssueChange(world.next_comment_id, user, t, changes, message)
    world.next_comment_id += 1  # changes share the comments' id sequence
    issue.changes.append(change)
    issue.updated_on = t
    return change


def resolve_issue(
    world: World, repo: Repository, issue: Issue, rng: random.Random
) -> IssueChange | None:
    """Mark the issue resolved (None if it already is)."""
    return edit_issue(world, repo, issue, rng, state="resolved")


def delete_issue(world: World, repo: Repository, issue: Issue) -> None:
    """Hard-delete the issue: it vanishes with its comments and leaves no tombstone (§9.9)."""
    if repo.issues.get(issue.id) is not issue:
        raise ValueError(f"issue {issue.id} is not in {repo.full_name}")
    del repo.issues[issue.id]


def _bump_for_comment(world: World, owner: Owner, t: str) -> None:
    if isinstance(owner, Issue):
        if world.settings.comment_bumps_issue:
            owner.updated_on = t
    elif world.settings.comment_bumps_pr:
        owner.updated_on = t


def _new_comment(world: World, user: str, t: str, content: str, parent_id: int | None) -> Comment:
    comment = Comment(world.next_comment_id, user, content, t, t, parent_id=parent_id)
    world.next_comment_id += 1
    return comment


def _parent(owner: Owner, parent_id: int | None) -> Comment | None:
    if parent_id is None:
        return None
    for c in owner.comments:
        if c.id == parent_id:
            return c
    raise ValueError(f"comment {parent_id} is not on this issue or pull request")


def comment_issue(
    world: World,
    repo: Repository,
    issue: Issue,
    rng: random.Random,
    parent_id: int | None = None,
) -> Comment:
    """Add a comment (a reply when ``parent_id`` is given)."""
    _tracker(repo)
    _parent(issue, parent_id)
    regulars = [issue.reporter_uuid, *([issue.assignee_uuid] if issue.assignee_uuid else [])]
    user = rng.choice(regulars) if rng.random() < 0.5 else _actor(world, repo, rng)
    t = _now(world, rng)
    comment = _new_comment(world, user, t, short_markdown(rng), parent_id)
    issue.comments.append(comment)
    _bump_for_comment(world, issue, t)
    return comment


def find_owner(world: World, comment: Comment) -> Owner:
    """The issue or PR holding this comment (a full scan; pass the owner when you have it)."""
    for repo in world.repositories.values():
        for owner in (*repo.issues.values(), *repo.pullrequests.values()):
            if any(c is comment for c in owner.comments):
                return owner
    raise ValueError(f"comment {comment.id} belongs to nothing")


def edit_comment(
    world: World, comment: Comment, rng: random.Random, owner: Owner | None = None
) -> Comment:
    """Change a comment's content; bumps its ``updated_on`` and, per settings, its owner's."""
    if comment.deleted:
        raise ValueError(f"comment {comment.id} is deleted")
    owner = owner or find_owner(world, comment)
    t = _now(world, rng)
    content = short_markdown(rng)
    if content == comment.content:
        content += "\n\n_Edited._"
    comment.content = content
    comment.updated_on = t
    _bump_for_comment(world, owner, t)
    return comment


def delete_comment(world: World, owner: Owner, comment: Comment) -> bool:
    """Delete a comment: soft (deleted, content blanked) when it has replies, else hard.

    Returns True for a soft delete. A hard-deleted PR comment also leaves the activity log.
    """
    if not any(c is comment for c in owner.comments):
        raise ValueError(f"comment {comment.id} is not on this issue or pull request")
    has_replies = any(c.parent_id == comment.id for c in owner.comments)
    if comment.deleted and has_replies:
        raise ValueError(f"comment {comment.id} is already deleted")
    t = _now(world)
    if has_replies:
        comment.deleted, comment.content, comment.updated_on = True, "", t
    else:
        owner.comments = [c for c in owner.comments if c is not comment]
        if isinstance(owner, PullRequest):
            owner.activity = [
                a
                for a in owner.activity
                if not (a.kind == "comment" and a.comment_id == comment.id)
            ]
    _bump_for_comment(world, owner, t)
    return has_replies


def vote_issue(world: World, repo: Repository, issue: Issue, rng: random.Random) -> int:
    """Someone votes (or, now and then, withdraws a vote); returns the new count."""
    _tracker(repo)
    if issue.votes > 0 and rng.random() < 0.2:
        issue.votes -= 1
    else:
        issue.votes += 1
    if world.settings.vote_bumps_issue:
        issue.updated_on = _now(world, rng)
    return issue.votes


def watch_issue(
    world: World, repo: Repository, issue: Issue, user_uuid: str, watch: bool = True
) -> None:
    """Start or stop watching; like votes, bumps ``updated_on`` only if ``vote_bumps_issue``."""
    _tracker(repo)
    if user_uuid not in world.users:
        raise ValueError(f"unknown user {user_uuid}")
    watching = user_uuid in issue.watcher_uuids
    if watch == watching:
        return
    if watch:
        issue.watcher_uuids.append(user_uuid)
    else:
        issue.watcher_uuids.remove(user_uuid)
    if world.settings.vote_bumps_issue:
        issue.updated_on = _now(world)


def attach_file(world: World, repo: Repository, issue: Issue, rng: random.Random) -> Attachment:
    """Upload a file; a same-name upload replaces the old one (§3.8) and moves to the end."""
    _tracker(repo)
    name = rng.choice(ATTACHMENT_NAMES)
    t = _now(world, rng)
    attachment = Attachment(name, rng.randbytes(rng.randint(16, 512)), t)
    issue.attachments = [a for a in issue.attachments if a.name != name] + [attachment]
    if world.settings.attachment_bumps_issue:
        issue.updated_on = t
    return attachment
