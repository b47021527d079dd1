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
from collections.abc import Callable, Iterable

from bbmirror.simulator.common.mix import apply_mix, on_one, pick
from bbmirror.simulator.common.pools import (
    PATHS,
    markdown,
    short_markdown,
    title,
)
from bbmirror.simulator.server.mutate_code import (
    _key,
    _user,
    add_build,
    create_branch,
    create_tag,
    delete_branch,
    delete_tag,
    force_push,
    move_repo,
    push_commits,
    rename_repo,
)
from bbmirror.simulator.server.mutate_pr import (
    approve,
    comment_pr,
    decline_pr,
    delete_comment,
    delete_pr,
    edit_comment,
    merge_pr,
    needs_work,
    open_pr,
    reopen_pr,
    rescope,
    resolve_task,
    unapprove,
    update_pr,
)
from bbmirror.simulator.server.world import (
    DcPullRequest,
    DcRepository,
    DcWorld,
)

# --- commits and refs --------------------------------------------------------------------------


# --- repositories ------------------------------------------------------------------------------


# --- pull requests -----------------------------------------------------------------------------


# --- comments ----------------------------------------------------------------------------------


# --- random activity ---------------------------------------------------------------------------

Op = Callable[[DcWorld, DcRepository, random.Random], str | None]


def _open(repo: DcRepository) -> list[DcPullRequest]:
    return [pr for pr in repo.pull_requests.values() if pr.state == "OPEN"]


def _prs(repo: DcRepository) -> Iterable[DcPullRequest]:
    return repo.pull_requests.values()


def _any_pr(repo: DcRepository, rng: random.Random) -> DcPullRequest | None:
    return pick(rng, _prs(repo))


def _op_comment(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = _any_pr(repo, rng)
    if pr is None:
        return None
    uid = _user(world, rng)
    parent = pick(rng, pr.all_comments()) if rng.random() < 0.4 else None
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
    comment = pick(rng, pr.all_comments()) if pr else None
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
    comment = pick(rng, leaves)
    if pr is None or comment is None or not delete_comment(world, pr, comment):
        return None
    return f"delete comment {comment.id}"


def _op_review(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = pick(rng, _open(repo))
    if pr is None:
        return None
    uid = pick(rng, [p.user_id for p in pr.reviewers] or [_user(world, rng)])
    assert uid is not None
    action = rng.choices((approve, needs_work, unapprove), (6, 2, 1))[0]
    if not action(world, pr, uid):
        return None
    return f"{action.__name__} PR {repo.slug}#{pr.id} by {uid}"


def _op_update(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = pick(rng, _open(repo))
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
    pr = pick(rng, [p for p in _open(repo) if p.from_branch in repo.branches])
    if pr is None:
        return None
    if rng.random() < 0.2:
        force_push(world, repo, pr.from_branch, rng)
        return f"force-push {pr.from_branch}"
    rescope(world, repo, pr, rng)
    return f"rescope PR {repo.slug}#{pr.id}"


def _op_close(world: DcWorld, repo: DcRepository, rng: random.Random) -> str | None:
    pr = pick(rng, _open(repo))
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
    pr = pick(rng, [p for p in repo.pull_requests.values() if p.state == "DECLINED"])
    if pr is None or not reopen_pr(world, repo, pr, pr.author_id):
        return None
    return f"reopen PR {repo.slug}#{pr.id}"


_op_delete_pr = on_one(_prs, delete_pr, "delete PR {repo.slug}#{item.id}", with_rng=False)


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
        name = pick(rng, [b for b in repo.branches if b != repo.default_branch])
        if name is None or not delete_branch(world, repo, name):
            return None
        return f"delete branch {name}"
    if roll < 0.85:
        name = f"v{rng.randint(2, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 30)}"
        create_tag(world, repo, name, rng.random() < 0.6)
        return f"create tag {name}"
    name = pick(rng, repo.tags)
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
    project = pick(rng, [p for p in world.projects.values() if p.id != repo.project_id])
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
