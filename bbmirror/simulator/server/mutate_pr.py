"""Data Center mutations on pull requests: open, update, review, rescope, close, comment."""

from __future__ import annotations

import random
from collections.abc import Iterable

from bbmirror.simulator.common.pools import (
    commit_message,
    markdown,
    title,
)
from bbmirror.simulator.server.mutate_code import (
    _activity,
    _comment_touch,
    _commit,
    _key,
    _now,
    _user,
    push_commits,
)
from bbmirror.simulator.server.world import (
    DcActivity,
    DcComment,
    DcParticipant,
    DcPullRequest,
    DcRepository,
    DcWorld,
    commit_log,
)


def _participant(pr: DcPullRequest, uid: int) -> DcParticipant | None:
    """The user's review entry, added as PARTICIPANT on first contact (never the author)."""
    if uid == pr.author_id:
        return None
    person = pr.person(uid)
    if person is None:
        person = DcParticipant(uid, "PARTICIPANT")
        pr.participants.append(person)
    return person


def open_pr(world: DcWorld, repo: DcRepository, rng: random.Random) -> DcPullRequest:
    """A new feature branch with 1-3 commits and a PR from it into the default branch."""
    author = _user(world, rng)
    key = _key(rng) if rng.random() < 0.7 else None
    words = [w for w in title(rng).lower().split() if w.isascii() and w.isalpha()][1:4]
    branch = f"feature/{'-'.join([*([key] if key else []), *words])}"
    while branch in repo.branches:
        branch += f"-{rng.randint(2, 99)}"
    base = repo.branches[repo.default_branch]
    head, t = base, world.clock
    for _ in range(rng.randint(1, 3)):
        t = _now(world, rng)
        message = f"{key} {commit_message(rng)}" if key else commit_message(rng)
        head = _commit(world, repo, [head], t, message, author)
    repo.branches[branch] = head
    t = _now(world, rng)
    repo.last_pr_id += 1
    others = [u for u in world.users if u != author]
    pr = DcPullRequest(
        id=repo.last_pr_id,
        version=0,
        title=f"{key} {title(rng)}" if key and rng.random() < 0.6 else title(rng),
        description=markdown(rng, 1) if rng.random() < 0.8 else "",
        state="OPEN",
        author_id=author,
        from_repo_id=repo.id,
        from_branch=branch,
        from_commit=head,
        to_branch=repo.default_branch,
        to_commit=base,
        created=t,
        updated=t,
        reviewers=[DcParticipant(u, "REVIEWER") for u in rng.sample(others, rng.randint(0, 2))],
        commit_ids=commit_log(repo, head, base),
    )
    repo.pull_requests[pr.id] = pr
    _activity(world, pr, t, author, "OPENED")
    return pr


def _require_open(pr: DcPullRequest) -> None:
    if pr.state != "OPEN":
        raise ValueError(f"pull request {pr.id} is {pr.state}")


def update_pr(
    world: DcWorld,
    repo: DcRepository,
    pr: DcPullRequest,
    *,
    title_: str | None = None,
    description: str | None = None,
    add: Iterable[int] = (),
    remove: Iterable[int] = (),
) -> DcActivity | None:
    """Edit title/description/reviewers: one UPDATED activity, version + 1 (§2.0).

    A removed reviewer stays a participant ("will forever remain a participant"). Nothing
    changes (and None is returned) when the edit changes nothing.
    """
    _require_open(pr)
    t = world.tick()
    data: dict = {"addedReviewers": [], "removedReviewers": []}
    if title_ is not None and title_ != pr.title:
        data["previousTitle"], pr.title = pr.title, title_
    if description is not None and description != pr.description:
        data["previousDescription"], pr.description = pr.description, description
    for uid in add:
        if uid == pr.author_id or any(r.user_id == uid for r in pr.reviewers):
            continue
        old = next((p for p in pr.participants if p.user_id == uid), None)
        if old is not None:
            pr.participants.remove(old)
        status = old.status if old else "UNAPPROVED"
        last = old.last_reviewed_commit if old else None
        pr.reviewers.append(DcParticipant(uid, "REVIEWER", status, last))
        data["addedReviewers"].append(uid)
    for uid in remove:
        old = next((r for r in pr.reviewers if r.user_id == uid), None)
        if old is not None:
            pr.reviewers.remove(old)
            old.role = "PARTICIPANT"
            pr.participants.append(old)
            data["removedReviewers"].append(uid)
    if len(data) == 2 and not data["addedReviewers"] and not data["removedReviewers"]:
        return None
    return _activity(world, pr, t, pr.author_id, "UPDATED", **data)


def _review(world: DcWorld, pr: DcPullRequest, uid: int, status: str, action: str) -> bool:
    _require_open(pr)
    person = _participant(pr, uid)
    if person is None or person.status == status:
        return False
    person.status = status
    person.last_reviewed_commit = pr.from_commit
    _activity(world, pr, world.tick(), uid, action)
    return True


def approve(world: DcWorld, pr: DcPullRequest, uid: int) -> bool:
    return _review(world, pr, uid, "APPROVED", "APPROVED")


def needs_work(world: DcWorld, pr: DcPullRequest, uid: int) -> bool:
    return _review(world, pr, uid, "NEEDS_WORK", "REVIEWED")


def unapprove(world: DcWorld, pr: DcPullRequest, uid: int) -> bool:
    return _review(world, pr, uid, "UNAPPROVED", "UNAPPROVED")


def rescope(world: DcWorld, repo: DcRepository, pr: DcPullRequest, rng: random.Random) -> list:
    """Push to the PR's source branch (which rescopes it)."""
    _require_open(pr)
    return push_commits(world, repo, pr.from_branch, rng, rng.randint(1, 2))


def merge_pr(world: DcWorld, repo: DcRepository, pr: DcPullRequest, uid: int) -> str:
    """A merge commit on the target branch (reachable from it), state MERGED."""
    _require_open(pr)
    t = world.tick()
    target = repo.branches[pr.to_branch]
    message = (
        f"Merge pull request #{pr.id} in {world.projects[repo.project_id].key}/{repo.slug} "
        f"from {pr.from_branch} to {pr.to_branch}\n\n* commit '{pr.from_commit}':\n  {pr.title}"
    )
    merge = _commit(world, repo, [target, pr.from_commit], t, message, uid)
    repo.branches[pr.to_branch] = merge
    pr.state, pr.closed, pr.merge_commit, pr.to_commit = "MERGED", t, merge, merge
    _activity(world, pr, t, uid, "MERGED", commit=merge)
    return merge


def decline_pr(world: DcWorld, pr: DcPullRequest, uid: int) -> None:
    _require_open(pr)
    t = world.tick()
    pr.state, pr.closed = "DECLINED", t
    _activity(world, pr, t, uid, "DECLINED")


def reopen_pr(world: DcWorld, repo: DcRepository, pr: DcPullRequest, uid: int) -> bool:
    """Reopen a declined PR whose source branch still points where it did."""
    if pr.state != "DECLINED" or repo.branches.get(pr.from_branch) != pr.from_commit:
        return False
    t = world.tick()
    pr.state, pr.closed = "OPEN", None
    _activity(world, pr, t, uid, "REOPENED")
    return True


def delete_pr(world: DcWorld, repo: DcRepository, pr: DcPullRequest) -> None:
    """Server deletes outright: the PR and its activity vanish; its id is never reused."""
    del repo.pull_requests[pr.id]
    world.tick()


def comment_pr(
    world: DcWorld,
    pr: DcPullRequest,
    uid: int,
    text: str,
    *,
    parent: DcComment | None = None,
    blocker: bool = False,
    anchor: dict | None = None,
) -> DcComment:
    """A new thread (with a COMMENTED activity) or a reply nested under ``parent``."""
    t = world.tick()
    made = DcComment(world.next_comment_id, uid, text, t, t)
    world.next_comment_id += 1
    made.severity = "BLOCKER" if blocker else "NORMAL"
    _participant(pr, uid)
    if parent is not None:
        parent.replies.append(made)
        _comment_touch(world, pr, t)
        return made
    made.anchor = anchor
    pr.comments.append(made)
    _activity(world, pr, t, uid, "COMMENTED", commentAction="ADDED")
    pr.activities[-1].comment_id = made.id
    return made


def edit_comment(world: DcWorld, pr: DcPullRequest, comment: DcComment, text: str) -> None:
    t = world.tick()
    comment.text, comment.version, comment.updated = text, comment.version + 1, t
    _comment_touch(world, pr, t)


def resolve_task(world: DcWorld, pr: DcPullRequest, comment: DcComment) -> None:
    """Flip a task (BLOCKER comment) between OPEN and RESOLVED: a state change, version + 1."""
    t = world.tick()
    comment.state = "RESOLVED" if comment.state == "OPEN" else "OPEN"
    comment.version, comment.updated = comment.version + 1, t
    resolved = comment.state == "RESOLVED"
    comment.resolved, comment.resolver_id = (t, pr.author_id) if resolved else (None, None)
    _comment_touch(world, pr, t)


def delete_comment(world: DcWorld, pr: DcPullRequest, comment: DcComment) -> bool:
    """Delete a comment without visible replies (else False: Server answers 409)."""
    if comment.deleted or any(not r.deleted for r in comment.replies):
        return False
    t = world.tick()
    comment.deleted, comment.updated = True, t
    _comment_touch(world, pr, t)
    return True
