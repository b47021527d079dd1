"""Change a world the way real Bitbucket activity does, keeping it internally consistent.

Every function takes the world first, draws every timestamp from ``world.tick`` (so time only
moves forward) and keeps ``updated_on``, change logs, PR activity, participants and the commit
DAG consistent with ``invariants.check_invariants``. Which events bump which ``updated_on``
follows ``world.settings``; the rules are listed in docs/simulator.md ("World generation and
mutations"). Invalid requests (approving your own PR, merging a closed one, deleting the main
branch) raise ``ValueError`` like the API would refuse them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from bbmirror.simulator.cloud.history import author_raw, member_uuids
from bbmirror.simulator.cloud.invariants import roots
from bbmirror.simulator.cloud.issue_fields import (
    apply_issue_fields,
    issue_changes,
    random_issue_fields,
)
from bbmirror.simulator.cloud.world import (
    ISSUE_KINDS,
    ISSUE_PRIORITIES,
    STATUS_STATES,
    Activity,
    Attachment,
    Comment,
    Commit,
    CommitStatus,
    Issue,
    IssueChange,
    Participant,
    PullRequest,
    Repository,
    Tag,
    World,
)
from bbmirror.simulator.common.clock import commit_date, offset_for, to_us
from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.common.pools import (
    ATTACHMENT_NAMES,
    PATHS,
    REASONS,
    SENTENCES,
    STATUS_KEYS,
    UNKNOWN_AUTHORS,
    commit_hash,
    commit_message,
    markdown,
    new_uuid,
    short_markdown,
    title,
)

Owner = Issue | PullRequest
T = TypeVar("T")
SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _now(world: World, rng: random.Random | None = None) -> str:
    """Advance the clock by a plausible gap (a second when no rng is given) and return it."""
    return world.tick(rng.uniform(1.0, 900.0) if rng else 1.0)


def _actor(world: World, repo: Repository, rng: random.Random) -> str:
    return rng.choice(member_uuids(world, repo))


# ---------------------------------------------------------------------------------------------
# Issues


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


# ---------------------------------------------------------------------------------------------
# Commits, branches, tags


def _make_commit(
    repo: Repository,
    parents: list[str],
    t: str,
    message: str,
    author_uuid: str | None,
    raw: str,
    rng: random.Random | None,
) -> Commit:
    date = commit_date(to_us(t), offset_for(raw))
    nonce = f"{rng.getrandbits(64):x}" if rng else f"{len(repo.commits)}"
    sha = commit_hash(repo.uuid, *parents, raw, date, message, nonce)
    made = Commit(sha, raw, author_uuid, date, message, list(parents))
    repo.commits[sha] = made
    return made


def _author(
    world: World, repo: Repository, rng: random.Random, author_uuid: str | None
) -> tuple[str | None, str]:
    if author_uuid is None:
        if rng.random() < 0.05:
            return None, rng.choice(UNKNOWN_AUTHORS)
        author_uuid = _actor(world, repo, rng)
    return author_uuid, author_raw(world.users[author_uuid])


def _pr_commits(repo: Repository, pr: PullRequest) -> list[str]:
    """``git log destination..source``, newest first (repo.commits is oldest first)."""
    mine = ancestors(repo.commits, [pr.source_commit])
    mine -= ancestors(
        repo.commits, [repo.branches.get(pr.destination_branch, pr.destination_commit)]
    )
    return [sha for sha in reversed(repo.commits) if sha in mine]


def _snapshot(pr: PullRequest) -> dict:
    return {
        "state": pr.state,
        "title": pr.title,
        "description": pr.description,
        "reason": pr.reason,
        "source_commit": pr.source_commit,
        "destination_commit": pr.destination_commit,
        "source_branch": pr.source_branch,
        "destination_branch": pr.destination_branch,
    }


def _record_update(pr: PullRequest, user: str, t: str) -> Activity:
    """Append an ``update`` activity snapshotting the PR; updates always bump ``updated_on``."""
    activity = Activity("update", t, user, data=_snapshot(pr))
    pr.activity.append(activity)
    pr.updated_on = t
    return activity


def _follow_branch(repo: Repository, branch: str, t: str, rewritten: bool) -> None:
    """Open PRs from ``branch`` take its new head, re-scope and log an update."""
    for pr in repo.pullrequests.values():
        if pr.state != "OPEN" or pr.source_branch != branch:
            continue
        pr.source_commit = repo.branches[branch]
        pr.destination_commit = repo.branches.get(pr.destination_branch, pr.destination_commit)
        if rewritten or not pr.commit_hashes:
            pr.commit_hashes = _pr_commits(repo, pr)
        else:
            known = set(pr.commit_hashes)
            fresh = []
            sha = pr.source_commit
            while sha not in known and sha in repo.commits:
                fresh.append(sha)
                parents = repo.commits[sha].parents
                if not parents:
                    break
                sha = parents[0]
            pr.commit_hashes = fresh + pr.commit_hashes
        _record_update(pr, pr.author_uuid, t)


def push_commits(
    world: World,
    repo: Repository,
    branch: str,
    rng: random.Random,
    n: int = 1,
    author_uuid: str | None = None,
) -> list[Commit]:
    """Push ``n`` new commits onto an existing branch; open PRs from it follow (an update)."""
    if branch not in repo.branches:
        raise ValueError(f"no branch {branch!r} in {repo.full_name}")
    if n < 1:
        raise ValueError("push at least one commit")
    user, raw = _author(world, repo, rng, author_uuid)
    head = repo.branches[branch]
    made: list[Commit] = []
    t = world.clock
    for _ in range(n):
        t = _now(world, rng)
        commit = _make_commit(repo, [head], t, commit_message(rng), user, raw, rng)
        head = commit.hash
        made.append(commit)
    repo.branches[branch] = head
    repo.updated_on = t
    repo.size += rng.randint(100, 20_000)
    _follow_branch(repo, branch, t, rewritten=False)
    return made


def _protected(repo: Repository, branch: str) -> str | None:
    """Why a branch may not be rewritten or deleted, or None."""
    if branch == repo.mainbranch:
        return "it is the main branch"
    if any(pr.destination_branch == branch for pr in repo.pullrequests.values()):
        return "pull requests target it"
    return None


def collect_garbage(repo: Repository) -> list[str]:
    """Drop commits no branch, tag or pull request reaches (and their statuses)."""
    reachable = ancestors(repo.commits, roots(repo))
    removed = [sha for sha in repo.commits if sha not in reachable]
    for sha in removed:
        del repo.commits[sha]
        repo.statuses.pop(sha, None)
    return removed


def force_push(world: World, repo: Repository, branch: str, rng: random.Random) -> list[Commit]:
    """Rewrite a feature branch: drop its last one to three commits and push new ones.

    Dropped commits that nothing else reaches leave ``repo.commits`` (the API's ``/commits``
    no longer lists them). Returns the new commits. The main branch and PR targets are
    protected, as branch restrictions usually make them.
    """
    if branch not in repo.branches:
        raise ValueError(f"no branch {branch!r} in {repo.full_name}")
    reason = _protected(repo, branch)
    if reason:
        raise ValueError(f"cannot force-push {branch}: {reason}")
    head = base = repo.branches[branch]
    for _ in range(rng.randint(1, 3)):
        parents = repo.commits[base].parents
        if not parents:
            break
        base = parents[0]
    if base == head:
        raise ValueError(f"{branch} has nothing to rewrite")
    user, raw = _author(world, repo, rng, None)
    made: list[Commit] = []
    t = world.clock
    for _ in range(rng.randint(1, 3)):
        t = _now(world, rng)
        commit = _make_commit(repo, [base], t, commit_message(rng), user, raw, rng)
        base = commit.hash
        made.append(commit)
    repo.branches[branch] = base
    repo.updated_on = t
    _follow_branch(repo, branch, t, rewritten=True)
    collect_garbage(repo)
    return made


def create_branch(
    world: World,
    repo: Repository,
    name: str,
    target: str | None = None,
    rng: random.Random | None = None,
) -> str:
    """Create a branch at ``target`` (default: the main branch head); returns the target."""
    if name in repo.branches:
        raise ValueError(f"branch {name!r} exists")
    target = target or repo.branches[repo.mainbranch]
    if target not in repo.commits:
        raise ValueError(f"no commit {target!r}")
    repo.branches[name] = target
    repo.updated_on = _now(world, rng)
    return target


def delete_branch(
    world: World, repo: Repository, name: str, rng: random.Random | None = None
) -> list[str]:
    """Delete a branch; returns the commits that became unreachable and were dropped."""
    if name not in repo.branches:
        raise ValueError(f"no branch {name!r} in {repo.full_name}")
    reason = _protected(repo, name)
    if reason is None and any(
        pr.state == "OPEN" and pr.source_branch == name for pr in repo.pullrequests.values()
    ):
        reason = "an open pull request comes from it"
    if reason:
        raise ValueError(f"cannot delete {name}: {reason}")
    del repo.branches[name]
    repo.updated_on = _now(world, rng)
    return collect_garbage(repo)


def create_tag(
    world: World,
    repo: Repository,
    name: str,
    rng: random.Random,
    target: str | None = None,
) -> Tag:
    """Tag a commit (default: the main branch head); about half are annotated."""
    if name in repo.tags:
        raise ValueError(f"tag {name!r} exists")
    target = target or repo.branches[repo.mainbranch]
    if target not in repo.commits:
        raise ValueError(f"no commit {target!r}")
    t = _now(world, rng)
    tag = Tag(name, target)
    if rng.random() < 0.5:
        tagger = author_raw(world.users[_actor(world, repo, rng)])
        tag.date = commit_date(to_us(t), offset_for(tagger))
        tag.message, tag.tagger_raw = f"Release {name}\n", tagger
    repo.tags[name] = tag
    repo.updated_on = t
    return tag


def delete_tag(
    world: World, repo: Repository, name: str, rng: random.Random | None = None
) -> list[str]:
    """Delete a tag; returns the commits that became unreachable and were dropped."""
    if name not in repo.tags:
        raise ValueError(f"no tag {name!r} in {repo.full_name}")
    del repo.tags[name]
    repo.updated_on = _now(world, rng)
    return collect_garbage(repo)


def rename_repo(
    world: World, repo: Repository, new_slug: str, rng: random.Random | None = None
) -> None:
    """Rename: slug and name change, uuid stays (§3.4)."""
    if not SLUG.match(new_slug):
        raise ValueError(f"bad slug {new_slug!r}")
    if world.repo(repo.workspace, new_slug) not in (None, repo):
        raise ValueError(f"{repo.workspace}/{new_slug} exists")
    repo.slug = repo.name = new_slug
    repo.updated_on = _now(world, rng)


REPO_SETTINGS = ("name", "description", "is_private", "has_issues", "fork_policy", "language")


def change_repo_settings(
    world: World, repo: Repository, rng: random.Random | None = None, **fields: object
) -> bool:
    """Change repository settings; bumps ``updated_on`` unless nothing changed."""
    changed = False
    for name, value in fields.items():
        if name not in REPO_SETTINGS:
            raise ValueError(f"unknown repository setting {name!r}")
        if getattr(repo, name) != value:
            setattr(repo, name, value)
            changed = True
    if changed:
        repo.updated_on = _now(world, rng)
    return changed


def add_status(
    world: World, repo: Repository, commit_hash: str, rng: random.Random
) -> CommitStatus:
    """Report a build status on a commit, or move an existing one to a new state."""
    if commit_hash not in repo.commits:
        raise ValueError(f"no commit {commit_hash!r} in {repo.full_name}")
    t = _now(world, rng)
    existing = repo.statuses.setdefault(commit_hash, [])
    if existing and rng.random() < 0.5:
        status = rng.choice(existing)
        status.state = rng.choice([s for s in STATUS_STATES if s != status.state])
        status.updated_on = t
    else:
        keys = {s.key for s in existing}
        number = rng.randint(1, 99_999)
        key = f"{rng.choice(STATUS_KEYS)}-{number}"
        while key in keys:
            number += 1
            key = f"{key.rsplit('-', 1)[0]}-{number}"
        refname = next((b for b, h in repo.branches.items() if h == commit_hash), None)
        status = CommitStatus(
            uuid=new_uuid(rng),
            key=key,
            state=rng.choice(STATUS_STATES),
            name=f"{key.rsplit('-', 1)[0]} #{number}",
            description=rng.choice(("", "Tests passed", "2 tests failed")),
            url=f"https://ci.example.com/{repo.full_name}/{number}",
            refname=refname,
            created_on=t,
            updated_on=t,
        )
        existing.append(status)
    if world.settings.status_bumps_pr:
        for pr in repo.pullrequests.values():
            if pr.state == "OPEN" and pr.source_commit == commit_hash:
                pr.updated_on = t
    return status


# ---------------------------------------------------------------------------------------------
# Pull requests


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


def _vote(
    world: World, pr: PullRequest, user_uuid: str, kind: str, rng: random.Random | None
) -> Participant:
    _require_open(pr)
    if user_uuid not in world.users:
        raise ValueError(f"unknown user {user_uuid}")
    if user_uuid == pr.author_uuid:
        raise ValueError("authors cannot approve or request changes on their own PR")
    p = _participant(pr, user_uuid)
    state = "approved" if kind == "approval" else "changes_requested"
    if p.state == state:
        return p
    t = _now(world, rng)
    p.approved, p.state, p.participated_on = kind == "approval", state, t
    pr.activity.append(Activity(kind, t, user_uuid))
    if world.settings.approval_bumps_pr:
        pr.updated_on = t
    return p


def approve_pr(
    world: World,
    repo: Repository,
    pr: PullRequest,
    user_uuid: str,
    rng: random.Random | None = None,
) -> Participant:
    """Approve (replacing a change request); a no-op if already approved."""
    return _vote(world, pr, user_uuid, "approval", rng)


def request_changes(
    world: World,
    repo: Repository,
    pr: PullRequest,
    user_uuid: str,
    rng: random.Random | None = None,
) -> Participant:
    """Request changes (withdrawing an approval); a no-op if already requested."""
    return _vote(world, pr, user_uuid, "changes_requested", rng)


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


# ---------------------------------------------------------------------------------------------
# A realistic mix


def _pick(rng: random.Random, items: Iterable[T]) -> T | None:
    items = list(items)
    return rng.choice(items) if items else None


def _open_prs(repo: Repository) -> list[PullRequest]:
    return [pr for pr in repo.pullrequests.values() if pr.state == "OPEN"]


def _issue(repo: Repository, rng: random.Random) -> Issue | None:
    return _pick(rng, repo.issues.values()) if repo.has_issues else None


def _op_comment_pr(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pick(rng, repo.pullrequests.values())
    if pr is None:
        return None
    parent = _pick(rng, pr.comments) if rng.random() < 0.25 else None
    c = comment_pr(
        world, repo, pr, rng, inline=rng.random() < 0.3, parent_id=parent.id if parent else None
    )
    return f"comment on PR {repo.full_name}#{pr.id}: comment {c.id}"


def _op_comment_issue(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None:
        return None
    parent = _pick(rng, issue.comments) if rng.random() < 0.25 else None
    c = comment_issue(world, repo, issue, rng, parent_id=parent.id if parent else None)
    return f"comment on issue {repo.full_name}#{issue.id}: comment {c.id}"


def _voter(
    world: World, repo: Repository, pr: PullRequest, rng: random.Random, state: str
) -> str | None:
    candidates = [u for u in pr.reviewer_uuids + member_uuids(world, repo) if u != pr.author_uuid]
    candidates = [u for u in candidates if _participant_state(pr, u) != state]
    return _pick(rng, candidates)


def _participant_state(pr: PullRequest, user: str) -> str | None:
    return next((p.state for p in pr.participants if p.user_uuid == user), None)


def _op_approve(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open_prs(repo))
    user = pr and _voter(world, repo, pr, rng, "approved")
    if not user:
        return None
    approve_pr(world, repo, pr, user, rng)
    return f"approve PR {repo.full_name}#{pr.id}"


def _op_request_changes(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open_prs(repo))
    user = pr and _voter(world, repo, pr, rng, "changes_requested")
    if not user:
        return None
    request_changes(world, repo, pr, user, rng)
    return f"request changes on PR {repo.full_name}#{pr.id}"


def _op_update_pr(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open_prs(repo))
    if pr is None:
        return None
    update_pr(world, repo, pr, rng)
    return f"update PR {repo.full_name}#{pr.id}"


def _op_open_pr(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = open_pr(world, repo, rng)
    return f"open PR {repo.full_name}#{pr.id}"


def _op_merge_pr(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open_prs(repo))
    if pr is None:
        return None
    merge = merge_pr(world, repo, pr, rng)
    return f"merge PR {repo.full_name}#{pr.id} as {merge.hash[:12]}"


def _op_decline_pr(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open_prs(repo))
    if pr is None:
        return None
    decline_pr(world, repo, pr, rng)
    return f"decline PR {repo.full_name}#{pr.id}"


def _op_open_issue(world: World, repo: Repository, rng: random.Random) -> str | None:
    if not repo.has_issues:
        return None
    issue = open_issue(world, repo, rng)
    return f"open issue {repo.full_name}#{issue.id}"


def _op_edit_issue(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    change = issue and edit_issue(world, repo, issue, rng)
    if not change:
        return None
    return f"edit issue {repo.full_name}#{issue.id}: {', '.join(change.changes)}"


def _op_resolve_issue(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None or resolve_issue(world, repo, issue, rng) is None:
        return None
    return f"resolve issue {repo.full_name}#{issue.id}"


def _owners(repo: Repository) -> list[Owner]:
    found: list[Owner] = [pr for pr in repo.pullrequests.values() if pr.comments]
    if repo.has_issues:
        found += [issue for issue in repo.issues.values() if issue.comments]
    return found


def _op_edit_comment(world: World, repo: Repository, rng: random.Random) -> str | None:
    owner = _pick(rng, _owners(repo))
    comment = owner and _pick(rng, [c for c in owner.comments if not c.deleted])
    if not comment:
        return None
    edit_comment(world, comment, rng, owner)
    return f"edit comment {comment.id}"


def _op_delete_comment(world: World, repo: Repository, rng: random.Random) -> str | None:
    owner = _pick(rng, _owners(repo))
    if owner is None:
        return None
    replied = {c.parent_id for c in owner.comments}
    comment = _pick(rng, [c for c in owner.comments if not (c.deleted and c.id in replied)])
    if comment is None:
        return None
    soft = delete_comment(world, owner, comment)
    return f"{'soft' if soft else 'hard'}-delete comment {comment.id}"


def _op_vote(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None:
        return None
    return f"vote on issue {repo.full_name}#{issue.id}: {vote_issue(world, repo, issue, rng)}"


def _op_watch(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None:
        return None
    user = _actor(world, repo, rng)
    watch = user not in issue.watcher_uuids
    watch_issue(world, repo, issue, user, watch)
    return f"{'watch' if watch else 'unwatch'} issue {repo.full_name}#{issue.id}"


def _op_attach(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None:
        return None
    a = attach_file(world, repo, issue, rng)
    return f"attach {a.name} to issue {repo.full_name}#{issue.id}"


def _op_push(world: World, repo: Repository, rng: random.Random) -> str | None:
    branch = repo.mainbranch if rng.random() < 0.4 else rng.choice(list(repo.branches))
    made = push_commits(world, repo, branch, rng, n=rng.randint(1, 3))
    return f"push {len(made)} commits to {repo.full_name}:{branch}"


def _op_force_push(world: World, repo: Repository, rng: random.Random) -> str | None:
    branch = _pick(
        rng,
        [
            b
            for b, head in repo.branches.items()
            if _protected(repo, b) is None and repo.commits[head].parents
        ],
    )
    if branch is None:
        return None
    made = force_push(world, repo, branch, rng)
    return f"force-push {len(made)} commits to {repo.full_name}:{branch}"


def _op_create_branch(world: World, repo: Repository, rng: random.Random) -> str | None:
    name = f"spike/{rng.choice(SENTENCES).split()[0].lower().strip('.,:')}-{rng.randint(1, 9999)}"
    if name in repo.branches:
        return None
    create_branch(world, repo, name, rng.choice(list(repo.branches.values())), rng)
    return f"create branch {repo.full_name}:{name}"


def _op_delete_branch(world: World, repo: Repository, rng: random.Random) -> str | None:
    open_sources = {pr.source_branch for pr in _open_prs(repo)}
    name = _pick(
        rng, [b for b in repo.branches if _protected(repo, b) is None and b not in open_sources]
    )
    if name is None:
        return None
    removed = delete_branch(world, repo, name, rng)
    return f"delete branch {repo.full_name}:{name} ({len(removed)} commits dropped)"


def _op_create_tag(world: World, repo: Repository, rng: random.Random) -> str | None:
    name = f"v{rng.randint(2, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 50)}"
    if name in repo.tags:
        return None
    create_tag(world, repo, name, rng, rng.choice(list(repo.branches.values())))
    return f"create tag {repo.full_name}:{name}"


def _op_delete_tag(world: World, repo: Repository, rng: random.Random) -> str | None:
    name = _pick(rng, repo.tags)
    if name is None:
        return None
    delete_tag(world, repo, name, rng)
    return f"delete tag {repo.full_name}:{name}"


def _op_status(world: World, repo: Repository, rng: random.Random) -> str | None:
    sha = rng.choice(list(repo.branches.values()))
    status = add_status(world, repo, sha, rng)
    return f"status {status.key}={status.state} on {repo.full_name}@{sha[:12]}"


def _op_delete_issue(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None:
        return None
    delete_issue(world, repo, issue)
    return f"delete issue {repo.full_name}#{issue.id}"


def _op_rename(world: World, repo: Repository, rng: random.Random) -> str | None:
    base = re.sub(r"-r\d+$", "", repo.slug)
    new_slug = f"{base}-r{rng.randint(2, 999)}"
    if world.repo(repo.workspace, new_slug):
        return None
    old = repo.full_name
    rename_repo(world, repo, new_slug, rng)
    return f"rename {old} to {repo.full_name}"


def _op_settings(world: World, repo: Repository, rng: random.Random) -> str | None:
    description = rng.choice(SENTENCES)
    if not change_repo_settings(world, repo, rng, description=description):
        return None
    return f"change settings of {repo.full_name}"


Op = Callable[[World, Repository, random.Random], str | None]
OPERATIONS: tuple[tuple[Op, float], ...] = (
    (_op_comment_pr, 20),
    (_op_comment_issue, 12),
    (_op_approve, 7),
    (_op_request_changes, 2),
    (_op_update_pr, 7),
    (_op_open_pr, 5),
    (_op_merge_pr, 5),
    (_op_decline_pr, 1),
    (_op_open_issue, 5),
    (_op_edit_issue, 8),
    (_op_resolve_issue, 3),
    (_op_edit_comment, 4),
    (_op_delete_comment, 2),
    (_op_vote, 3),
    (_op_watch, 1),
    (_op_attach, 2),
    (_op_push, 6),
    (_op_force_push, 1),
    (_op_create_branch, 1),
    (_op_delete_branch, 1),
    (_op_create_tag, 1),
    (_op_delete_tag, 0.5),
    (_op_status, 4),
    (_op_delete_issue, 0.5),
    (_op_rename, 0.3),
    (_op_settings, 0.3),
)


def apply_mix(world, repos: list, operations, n: int, rng: random.Random) -> list[str]:
    """Apply ``n`` of the weighted ``operations`` (op, weight) to random repositories.

    An operation returns a short description, or nothing when it did not apply (it is then
    drawn again, up to 50 tries per wanted mutation). Shared by the Cloud and Server worlds.
    """
    ops, weights = [op for op, _ in operations], [w for _, w in operations]
    done: list[str] = []
    attempts = 0
    while repos and len(done) < n and attempts < 50 * n:
        attempts += 1
        op = rng.choices(ops, weights)[0]
        description = op(world, rng.choice(repos), rng)
        if description:
            done.append(description)
    return done


def random_activity(world: World, n: int, rng: random.Random) -> list[str]:
    """Apply ``n`` mutations in a realistic mix; returns one short description per mutation."""
    return apply_mix(world, list(world.repositories.values()), OPERATIONS, n, rng)
