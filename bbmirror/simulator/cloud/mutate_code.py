"""Cloud world mutations on code: commits, pushes, branches, tags, repository settings, statuses."""

from __future__ import annotations

import random
import re

from bbmirror.simulator.cloud.history import author_raw
from bbmirror.simulator.cloud.invariants import roots
from bbmirror.simulator.cloud.mutate_issues import (
    _actor,
    _now,
)
from bbmirror.simulator.cloud.world import (
    STATUS_STATES,
    Activity,
    Commit,
    CommitStatus,
    PullRequest,
    Repository,
    Tag,
    World,
)
from bbmirror.simulator.common.clock import commit_date, offset_for, to_us
from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.common.pools import (
    STATUS_KEYS,
    UNKNOWN_AUTHORS,
    commit_hash,
    commit_message,
    new_uuid,
)

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


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
    author = _author(world, repo, rng, author_uuid)
    made, t = _new_head(world, repo, branch, repo.branches[branch], n, author, rng)
    repo.size += rng.randint(100, 20_000)
    _follow_branch(repo, branch, t, rewritten=False)
    return made


def _new_head(
    world: World,
    repo: Repository,
    branch: str,
    parent: str,
    n: int,
    author: tuple[str | None, str],
    rng: random.Random,
) -> tuple[list[Commit], str]:
    """``n`` new commits in a row on ``parent`` become ``branch``'s head (a push, a force-push);
    returns them and the last one's time."""
    made: list[Commit] = []
    t = world.clock
    for _ in range(n):
        t = _now(world, rng)
        commit = _make_commit(repo, [parent], t, commit_message(rng), *author, rng)
        parent = commit.hash
        made.append(commit)
    repo.branches[branch] = parent
    repo.updated_on = t
    return made, t


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
        repo.reports.pop(sha, None)  # code insights go with their commit
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
    author = _author(world, repo, rng, None)
    made, t = _new_head(world, repo, branch, base, rng.randint(1, 3), author, rng)
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
    target = _new_ref_target(repo, repo.branches, "branch", name, target)
    repo.branches[name] = target
    repo.updated_on = _now(world, rng)
    return target


def delete_branch(
    world: World, repo: Repository, name: str, rng: random.Random | None = None
) -> list[str]:
    """Delete a branch; returns the commits that became unreachable and were dropped."""
    return _drop_ref(world, repo, repo.branches, "branch", name, rng)


def create_tag(
    world: World,
    repo: Repository,
    name: str,
    rng: random.Random,
    target: str | None = None,
) -> Tag:
    """Tag a commit (default: the main branch head); about half are annotated."""
    target = _new_ref_target(repo, repo.tags, "tag", name, target)
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
    return _drop_ref(world, repo, repo.tags, "tag", name, rng)


def _branch_stays(repo: Repository, name: str) -> str | None:
    """Why a branch cannot be deleted: it is protected, or an open pull request comes from it."""
    reason = _protected(repo, name)
    if reason is None and any(
        pr.state == "OPEN" and pr.source_branch == name for pr in repo.pullrequests.values()
    ):
        reason = "an open pull request comes from it"
    return reason


def _new_ref_target(repo: Repository, refs: dict, kind: str, name: str, target: str | None) -> str:
    """Where a new branch or tag points (default: the main branch head); its name is free."""
    if name in refs:
        raise ValueError(f"{kind} {name!r} exists")
    target = target or repo.branches[repo.mainbranch]
    if target not in repo.commits:
        raise ValueError(f"no commit {target!r}")
    return target


def _drop_ref(
    world: World, repo: Repository, refs: dict, kind: str, name: str, rng: random.Random | None
) -> list[str]:
    """Remove a branch or tag, then collect the commits no ref reaches any more."""
    if name not in refs:
        raise ValueError(f"no {kind} {name!r} in {repo.full_name}")
    reason = _branch_stays(repo, name) if kind == "branch" else None
    if reason:
        raise ValueError(f"cannot delete {name}: {reason}")
    del refs[name]
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
