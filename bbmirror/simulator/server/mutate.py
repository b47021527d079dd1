"""Change a Server world the way real activity does, keeping it consistent.

Every mutation advances the world clock, records the PR activity Server would show (with a new
global id), bumps ``version`` for entity changes (UPDATED, RESCOPED, MERGED, DECLINED,
REOPENED; never for reviews or comments) and moves ``updatedDate`` for every activity, and for
comments, replies, edits and deletes only when ``settings.comment_bumps_pr`` is on. Replies,
edits and deletes add no activity: they change the thread embedded in the root's COMMENTED
item (§2.7). A comment with replies cannot be deleted (409 on Server): ``delete_comment``
returns False. Pushing to a branch rescopes every open PR from it; the target's pushes do not.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from bbmirror.simulator.cloud.mutate import apply_mix
from bbmirror.simulator.common.pools import (
    PATHS,
    STATUS_KEYS,
    commit_hash,
    commit_message,
    markdown,
    short_markdown,
    title,
)
from bbmirror.simulator.server.generate import JIRA_PROJECTS, SECOND
from bbmirror.simulator.server.world import (
    DcActivity,
    DcBuild,
    DcComment,
    DcCommit,
    DcParticipant,
    DcProject,
    DcPullRequest,
    DcRepository,
    DcTag,
    DcWorld,
    commit_log,
)

T = TypeVar("T")


def _now(world: DcWorld, rng: random.Random) -> int:
    return world.tick(rng.randint(SECOND, 600 * SECOND))


def _pick(rng: random.Random, items: Iterable[T]) -> T | None:
    pool = list(items)
    return rng.choice(pool) if pool else None


def _activity(
    world: DcWorld, pr: DcPullRequest, t: int, user: int, action: str, **data: object
) -> DcActivity:
    made = DcActivity(world.next_activity_id, t, user, action, data=dict(data))
    world.next_activity_id += 1
    pr.activities.append(made)
    if action in ("UPDATED", "RESCOPED", "MERGED", "DECLINED", "REOPENED"):
        pr.version += 1
    if action != "COMMENTED" or world.settings.comment_bumps_pr:
        pr.updated = max(pr.updated, t)
    return made


def _comment_touch(world: DcWorld, pr: DcPullRequest, t: int) -> None:
    if world.settings.comment_bumps_pr:
        pr.updated = max(pr.updated, t)


def _commit(
    world: DcWorld, repo: DcRepository, parents: list[str], t: int, message: str, uid: int
) -> str:
    user = world.users[uid]
    sha = commit_hash(str(repo.id), *parents, user.name, str(t), message, str(len(repo.commits)))
    repo.commits[sha] = DcCommit(
        sha, user.display_name, user.email, t, user.display_name, user.email, t, message,
        list(parents), uid,
    )  # fmt: skip
    return sha


def _key(rng: random.Random) -> str:
    return f"{rng.choice(JIRA_PROJECTS)}-{rng.randint(1, 400)}"


def _user(world: DcWorld, rng: random.Random) -> int:
    return rng.choice([u.id for u in world.users.values() if u.active] or list(world.users))


def _participant(pr: DcPullRequest, uid: int) -> DcParticipant | None:
    """The user's review entry, added as PARTICIPANT on first contact (never the author)."""
    if uid == pr.author_id:
        return None
    person = pr.person(uid)
    if person is None:
        person = DcParticipant(uid, "PARTICIPANT")
        pr.participants.append(person)
    return person


# --- commits and refs --------------------------------------------------------------------------


def _rescope(world: DcWorld, repo: DcRepository, pr: DcPullRequest, t: int, head: str) -> None:
    old_ids, old_from, old_to = list(pr.commit_ids), pr.from_commit, pr.to_commit
    pr.to_commit = repo.branches.get(pr.to_branch, pr.to_commit)
    pr.from_commit = head
    pr.commit_ids = commit_log(repo, head, pr.to_commit)
    kept, before = set(pr.commit_ids), set(old_ids)
    added = [s for s in pr.commit_ids if s not in before]
    removed = [s for s in old_ids if s not in kept]
    _activity(
        world, pr, t, pr.author_id, "RESCOPED",
        fromHash=head, previousFromHash=old_from, previousToHash=old_to, toHash=pr.to_commit,
        added=added, removed=removed,
    )  # fmt: skip


def _moved(world: DcWorld, repo: DcRepository, branch: str, t: int) -> None:
    head = repo.branches[branch]
    for pr in repo.pull_requests.values():
        if pr.state == "OPEN" and pr.from_repo_id == repo.id and pr.from_branch == branch:
            _rescope(world, repo, pr, t, head)


def push_commits(
    world: DcWorld, repo: DcRepository, branch: str, rng: random.Random, n: int = 1
) -> list[str]:
    """``n`` new commits on ``branch``; open PRs from it are rescoped."""
    made = []
    uid = _user(world, rng)
    t = world.clock
    for _ in range(n):
        t = _now(world, rng)
        message = commit_message(rng)
        if rng.random() < 0.5:
            message = f"{_key(rng)} {message}"
        made.append(_commit(world, repo, [repo.branches[branch]], t, message, uid))
        repo.branches[branch] = made[-1]
    _moved(world, repo, branch, t)
    return made


def force_push(world: DcWorld, repo: DcRepository, branch: str, rng: random.Random) -> list[str]:
    """Rewrite the branch's last commit (amend): the old tip drops out of its open PRs."""
    head = repo.commits[repo.branches[branch]]
    if not head.parents:
        return []
    t = _now(world, rng)
    message = head.message + " (amended)"
    uid = head.author_id if head.author_id in world.users else _user(world, rng)
    new = _commit(world, repo, [head.parents[0]], t, message, uid)
    repo.branches[branch] = new
    _moved(world, repo, branch, t)
    return [new]


def create_branch(world: DcWorld, repo: DcRepository, name: str, at: str | None = None) -> str:
    repo.branches[name] = at or repo.branches[repo.default_branch]
    world.tick()
    return repo.branches[name]


def delete_branch(world: DcWorld, repo: DcRepository, name: str) -> bool:
    """Delete a branch unless it is the default one or an open PR's source."""
    busy = any(pr.state == "OPEN" and pr.from_branch == name for pr in repo.pull_requests.values())
    if name == repo.default_branch or busy or name not in repo.branches:
        return False
    del repo.branches[name]
    world.tick()
    return True


def create_tag(world: DcWorld, repo: DcRepository, name: str, annotated: bool = True) -> DcTag:
    target = repo.branches[repo.default_branch]
    made = DcTag(name, target, commit_hash("tag", name, target) if annotated else None)
    repo.tags[name] = made
    world.tick()
    return made


def delete_tag(world: DcWorld, repo: DcRepository, name: str) -> None:
    repo.tags.pop(name, None)
    world.tick()


def add_build(world: DcWorld, repo: DcRepository, sha: str, rng: random.Random) -> DcBuild:
    """A build status for a commit; PRs are not touched (statuses are not PR activity)."""
    number = rng.randint(1, 9999)
    key = rng.choice(STATUS_KEYS)
    made = DcBuild(
        key=f"{key.upper()}-{repo.slug.upper()}",
        state=rng.choices(("SUCCESSFUL", "FAILED", "INPROGRESS"), (80, 12, 8))[0],
        name=f"{key} #{number}",
        url=f"https://ci.example.com/{repo.slug}/{number}",
        description=rng.choice(("", "Tests passed", "2 tests failed")),
        date_added=_now(world, rng),
        ref=None,
        build_number=str(number),
        duration=rng.randint(10, 900) * SECOND,
    )
    builds = repo.builds.setdefault(sha, [])
    builds[:] = [b for b in builds if b.key != made.key] + [made]  # one status per key
    return made


# --- repositories ------------------------------------------------------------------------------


def slugify(name: str) -> str:
    """Server derives the slug from the name: lower case, runs of other characters → ``-``."""
    return re.sub(r"[^a-z0-9_.]+", "-", name.lower()).strip("-") or "repo"


def rename_repo(world: DcWorld, repo: DcRepository, name: str) -> bool:
    slug = slugify(name)
    if world.repo(world.projects[repo.project_id].key, slug) not in (None, repo):
        return False
    repo.name, repo.slug = name, slug
    world.tick()
    return True


def move_repo(world: DcWorld, repo: DcRepository, project: DcProject) -> bool:
    if world.repo(project.key, repo.slug) is not None:
        return False
    repo.project_id = project.id
    world.tick()
    return True


# --- pull requests -----------------------------------------------------------------------------


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


# --- comments ----------------------------------------------------------------------------------


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
    _comment_touch(world, pr, t)


def delete_comment(world: DcWorld, pr: DcPullRequest, comment: DcComment) -> bool:
    """Delete a comment without visible replies (else False: Server answers 409)."""
    if comment.deleted or any(not r.deleted for r in comment.replies):
        return False
    t = world.tick()
    comment.deleted, comment.updated = True, t
    _comment_touch(world, pr, t)
    return True


# --- random activity ---------------------------------------------------------------------------

Op = Callable[[DcWorld, DcRepository, random.Random], str | None]


def _open(repo: DcRepository) -> list[DcPullRequest]:
    return [pr for pr in repo.pull_requests.values() if pr.state == "OPEN"]


def _any_pr(repo: DcRepository, rng: random.Random) -> DcPullRequest | None:
    return _pick(rng, repo.pull_requests.values())


def _op_comment(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _any_pr(repo, rng)
    if pr is None:
        return None
    uid = _user(world, rng)
    parent = _pick(rng, pr.all_comments()) if rng.random() < 0.4 else None
    anchor = None
    if parent is None and rng.random() < 0.3:
        anchor = {"diffType": "EFFECTIVE", "path": rng.choice(PATHS), "line": rng.randint(1, 99),
                  "lineType": "ADDED", "fileType": "TO", "fromHash": pr.to_commit,
                  "toHash": pr.from_commit, "srcPath": None, "orphaned": False}  # fmt: skip
    made = comment_pr(
        world, pr, uid, short_markdown(rng), parent=parent, blocker=rng.random() < 0.1,
        anchor=anchor,
    )  # fmt: skip
    return f"comment {made.id} on PR {repo.slug}#{pr.id}"


def _op_edit(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _any_pr(repo, rng)
    comment = _pick(rng, pr.all_comments()) if pr else None
    if pr is None or comment is None:
        return None
    if comment.severity == "BLOCKER" and rng.random() < 0.5:
        resolve_task(world, pr, comment)
        return f"toggle task {comment.id}"
    edit_comment(world, pr, comment, comment.text + " (edited)")
    return f"edit comment {comment.id}"


def _op_delete_comment(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _any_pr(repo, rng)
    leaves = [c for c in pr.all_comments() if not c.replies] if pr else []
    comment = _pick(rng, leaves)
    if pr is None or comment is None or not delete_comment(world, pr, comment):
        return None
    return f"delete comment {comment.id}"


def _op_review(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open(repo))
    if pr is None:
        return None
    uid = _pick(rng, [p.user_id for p in pr.reviewers] or [_user(world, rng)])
    assert uid is not None
    action = rng.choices((approve, needs_work, unapprove), (6, 2, 1))[0]
    if not action(world, pr, uid):
        return None
    return f"{action.__name__} PR {repo.slug}#{pr.id} by {uid}"


def _op_update(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open(repo))
    if pr is None:
        return None
    roll = rng.random()
    if roll < 0.4:
        done = update_pr(world, repo, pr, title_=title(rng))
    elif roll < 0.6:
        done = update_pr(world, repo, pr, description=markdown(rng, 1))
    elif roll < 0.85:
        done = update_pr(world, repo, pr, add=[_user(world, rng)])
    else:
        done = update_pr(world, repo, pr, remove=[r.user_id for r in pr.reviewers[:1]])
    return f"update PR {repo.slug}#{pr.id}" if done else None


def _op_open(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    return f"open PR {repo.slug}#{open_pr(world, repo, rng).id}"


def _op_rescope(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _pick(rng, [p for p in _open(repo) if p.from_branch in repo.branches])
    if pr is None:
        return None
    if rng.random() < 0.2:
        force_push(world, repo, pr.from_branch, rng)
        return f"force-push {pr.from_branch}"
    rescope(world, repo, pr, rng)
    return f"rescope PR {repo.slug}#{pr.id}"


def _op_close(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _pick(rng, _open(repo))
    if pr is None:
        return None
    uid = rng.choice([pr.author_id, *[r.user_id for r in pr.reviewers]])
    if rng.random() < 0.75:
        merge_pr(world, repo, pr, uid)
        if rng.random() < 0.5:
            delete_branch(world, repo, pr.from_branch)
        return f"merge PR {repo.slug}#{pr.id}"
    decline_pr(world, pr, uid)
    return f"decline PR {repo.slug}#{pr.id}"


def _op_reopen(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _pick(rng, [p for p in repo.pull_requests.values() if p.state == "DECLINED"])
    if pr is None or not reopen_pr(world, repo, pr, pr.author_id):
        return None
    return f"reopen PR {repo.slug}#{pr.id}"


def _op_delete_pr(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _any_pr(repo, rng)
    if pr is None:
        return None
    delete_pr(world, repo, pr)
    return f"delete PR {repo.slug}#{pr.id}"


def _op_push(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    branch = rng.choice(list(repo.branches))
    push_commits(world, repo, branch, rng, rng.randint(1, 3))
    return f"push to {repo.slug}:{branch}"


def _op_refs(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.35:
        name = f"experiment/{_key(rng).lower()}-{rng.randint(1, 999)}"
        create_branch(world, repo, name)
        return f"create branch {name}"
    if roll < 0.6:
        name = _pick(rng, [b for b in repo.branches if b != repo.default_branch])
        if name is None or not delete_branch(world, repo, name):
            return None
        return f"delete branch {name}"
    if roll < 0.85:
        name = f"v{rng.randint(2, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 30)}"
        create_tag(world, repo, name, rng.random() < 0.6)
        return f"create tag {name}"
    name = _pick(rng, repo.tags)
    if name is None:
        return None
    delete_tag(world, repo, name)
    return f"delete tag {name}"


def _op_build(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    sha = repo.branches[rng.choice(list(repo.branches))]
    add_build(world, repo, sha, rng)
    return f"build status on {sha[:11]}"


def _op_repo(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    if rng.random() < 0.5:
        name = f"{repo.name} {rng.choice(('next', 'legacy', 'v2', 'core'))}"
        return f"rename repo {repo.id} to {name}" if rename_repo(world, repo, name) else None
    project = _pick(rng, [p for p in world.projects.values() if p.id != repo.project_id])
    if project is None or not move_repo(world, repo, project):
        return None
    return f"move repo {repo.id} to {project.key}"


OPERATIONS: tuple[tuple[Op, float], ...] = (
    (_op_comment, 25),
    (_op_edit, 6),
    (_op_delete_comment, 2),
    (_op_review, 10),
    (_op_update, 5),
    (_op_open, 6),
    (_op_rescope, 6),
    (_op_close, 6),
    (_op_reopen, 1),
    (_op_delete_pr, 0.5),
    (_op_push, 6),
    (_op_refs, 3),
    (_op_build, 4),
    (_op_repo, 0.4),
)


def random_activity(world: DcWorld, n: int, rng: random.Random) -> list[str]:
    """Apply ``n`` mutations in a realistic mix; returns one short description per mutation."""
    return apply_mix(world, list(world.repositories.values()), OPERATIONS, n, rng)
