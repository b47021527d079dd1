"""Change a world the way real Bitbucket activity does, keeping it internally consistent.

Every function takes the world first, draws every timestamp from ``world.tick`` (so time only
moves forward) and keeps ``updated_on``, change logs, PR activity, participants and the commit
DAG consistent with ``invariants.check_invariants``. Which events bump which ``updated_on``
follows ``world.settings``; the rules are listed in docs/simulator.md ("World generation and
mutations"). Invalid requests (approving your own PR, merging a closed one, deleting the main
branch) raise ``ValueError`` like the API would refuse them. The mutations live in
``mutate_issues.py``, ``mutate_code.py`` and ``mutate_pr.py``; this module draws random activity
from them (and is where callers reach them, as ``mutate.open_pr``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable

from bbmirror.simulator.cloud import deploys, pipelines
from bbmirror.simulator.cloud.history import member_uuids
from bbmirror.simulator.cloud.mutate_code import (
    _protected,
    add_status,
    change_repo_settings,
    create_branch,
    create_tag,
    delete_branch,
    delete_tag,
    force_push,
    push_commits,
    rename_repo,
)
from bbmirror.simulator.cloud.mutate_issues import (
    Owner,
    _actor,
    attach_file,
    comment_issue,
    delete_comment,
    delete_issue,
    edit_comment,
    edit_issue,
    open_issue,
    resolve_issue,
    vote_issue,
    watch_issue,
)
from bbmirror.simulator.cloud.mutate_pr import (
    approve_pr,
    comment_pr,
    decline_pr,
    merge_pr,
    open_pr,
    request_changes,
    update_pr,
)
from bbmirror.simulator.cloud.world import (
    Issue,
    PullRequest,
    Repository,
    World,
)
from bbmirror.simulator.common.mix import Op, apply_mix, on_one, pick
from bbmirror.simulator.common.pools import (
    SENTENCES,
)

# ---------------------------------------------------------------------------------------------
# A realistic mix


def _open_prs(repo: Repository) -> list[PullRequest]:
    return [pr for pr in repo.pullrequests.values() if pr.state == "OPEN"]


def _issues(repo: Repository) -> Iterable[Issue]:
    return repo.issues.values() if repo.has_issues else ()


def _issue(repo: Repository, rng: random.Random) -> Issue | None:
    return pick(rng, _issues(repo))


def _op_comment_pr(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = pick(rng, repo.pullrequests.values())
    if pr is None:
        return None
    parent = pick(rng, pr.comments) if rng.random() < 0.25 else None
    c = comment_pr(
        world, repo, pr, rng, inline=rng.random() < 0.3, parent_id=parent.id if parent else None
    )
    return f"comment on PR {repo.full_name}#{pr.id}: comment {c.id}"


def _op_comment_issue(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None:
        return None
    parent = pick(rng, issue.comments) if rng.random() < 0.25 else None
    c = comment_issue(world, repo, issue, rng, parent_id=parent.id if parent else None)
    return f"comment on issue {repo.full_name}#{issue.id}: comment {c.id}"


def _voter(
    world: World, repo: Repository, pr: PullRequest, rng: random.Random, state: str
) -> str | None:
    candidates = [u for u in pr.reviewer_uuids + member_uuids(world, repo) if u != pr.author_uuid]
    candidates = [u for u in candidates if _participant_state(pr, u) != state]
    return pick(rng, candidates)


def _participant_state(pr: PullRequest, user: str) -> str | None:
    return next((p.state for p in pr.participants if p.user_uuid == user), None)


def _vote_op(vote: Callable[..., object], state: str, said: str) -> Op:
    """An open PR gets a vote (``approve_pr``, ``request_changes``) from someone whose
    participant state is not ``state`` yet."""

    def op(world: World, repo: Repository, rng: random.Random) -> str | None:
        pr = pick(rng, _open_prs(repo))
        user = pr and _voter(world, repo, pr, rng, state)
        if not user:
            return None
        vote(world, repo, pr, user, rng)
        return said.format(repo=repo, item=pr)

    return op


_op_approve = _vote_op(approve_pr, "approved", "approve PR {repo.full_name}#{item.id}")
_op_request_changes = _vote_op(
    request_changes, "changes_requested", "request changes on PR {repo.full_name}#{item.id}"
)
_op_update_pr = on_one(_open_prs, update_pr, "update PR {repo.full_name}#{item.id}")


def _op_open_pr(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = open_pr(world, repo, rng)
    return f"open PR {repo.full_name}#{pr.id}"


_op_merge_pr = on_one(_open_prs, merge_pr, "merge PR {repo.full_name}#{item.id} as {done.hash:.12}")
_op_decline_pr = on_one(_open_prs, decline_pr, "decline PR {repo.full_name}#{item.id}")


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


def comment_ops(owners: Callable[[Repository], list[Owner]]) -> tuple[Op, Op]:
    """Edit, and delete, a comment of one of ``owners(repo)`` (the random mix: PRs and issues;
    the webhook mix: PRs only)."""

    def edit(world: World, repo: Repository, rng: random.Random) -> str | None:
        owner = pick(rng, owners(repo))
        comment = owner and pick(rng, [c for c in owner.comments if not c.deleted])
        if not comment:
            return None
        edit_comment(world, comment, rng, owner)
        return f"edit comment {comment.id}"

    def delete(world: World, repo: Repository, rng: random.Random) -> str | None:
        owner = pick(rng, owners(repo))
        if owner is None:
            return None
        replied = {c.parent_id for c in owner.comments}
        comment = pick(rng, [c for c in owner.comments if not (c.deleted and c.id in replied)])
        if comment is None:
            return None
        soft = delete_comment(world, owner, comment)
        return f"{'soft' if soft else 'hard'}-delete comment {comment.id}"

    return edit, delete


_op_edit_comment, _op_delete_comment = comment_ops(_owners)


_op_vote = on_one(_issues, vote_issue, "vote on issue {repo.full_name}#{item.id}: {done}")


def _op_watch(world: World, repo: Repository, rng: random.Random) -> str | None:
    issue = _issue(repo, rng)
    if issue is None:
        return None
    user = _actor(world, repo, rng)
    watch = user not in issue.watcher_uuids
    watch_issue(world, repo, issue, user, watch)
    return f"{'watch' if watch else 'unwatch'} issue {repo.full_name}#{issue.id}"


_op_attach = on_one(_issues, attach_file, "attach {done.name} to issue {repo.full_name}#{item.id}")


def _op_push(world: World, repo: Repository, rng: random.Random) -> str | None:
    branch = repo.mainbranch if rng.random() < 0.4 else rng.choice(list(repo.branches))
    made = push_commits(world, repo, branch, rng, n=rng.randint(1, 3))
    return f"push {len(made)} commits to {repo.full_name}:{branch}"


def _op_force_push(world: World, repo: Repository, rng: random.Random) -> str | None:
    branch = pick(
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


def _create_ref_op(
    kind: str, create: Callable[..., object], name: Callable[[random.Random], str]
) -> Op:
    """A new branch or tag (a random ``name(rng)`` not taken yet) at a random branch head."""

    def op(world: World, repo: Repository, rng: random.Random) -> str | None:
        new = name(rng)
        if new in (repo.branches if kind == "branch" else repo.tags):
            return None
        create(world, repo, new, target=rng.choice(list(repo.branches.values())), rng=rng)
        return f"create {kind} {repo.full_name}:{new}"

    return op


def _spike(rng: random.Random) -> str:
    return f"spike/{rng.choice(SENTENCES).split()[0].lower().strip('.,:')}-{rng.randint(1, 9999)}"


def _version(rng: random.Random) -> str:
    return f"v{rng.randint(2, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 50)}"


_op_create_branch = _create_ref_op("branch", create_branch, _spike)
_op_create_tag = _create_ref_op("tag", create_tag, _version)


def _op_delete_branch(world: World, repo: Repository, rng: random.Random) -> str | None:
    open_sources = {pr.source_branch for pr in _open_prs(repo)}
    name = pick(
        rng, [b for b in repo.branches if _protected(repo, b) is None and b not in open_sources]
    )
    if name is None:
        return None
    removed = delete_branch(world, repo, name, rng)
    return f"delete branch {repo.full_name}:{name} ({len(removed)} commits dropped)"


_op_delete_tag = on_one(lambda repo: repo.tags, delete_tag, "delete tag {repo.full_name}:{item}")


def _op_status(world: World, repo: Repository, rng: random.Random) -> str | None:
    sha = rng.choice(list(repo.branches.values()))
    status = add_status(world, repo, sha, rng)
    return f"status {status.key}={status.state} on {repo.full_name}@{sha[:12]}"


_op_delete_issue = on_one(
    _issues, delete_issue, "delete issue {repo.full_name}#{item.id}", with_rng=False
)


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


def random_activity(world: World, n: int, rng: random.Random) -> list[str]:
    """Apply ``n`` mutations in a realistic mix; returns one short description per mutation.
    Pipelines and deployments then move on (each with an rng of its own, no clock tick)."""
    done = apply_mix(world, list(world.repositories.values()), OPERATIONS, n, rng)
    pipelines.advance(world)
    deploys.activity(world)
    return done
