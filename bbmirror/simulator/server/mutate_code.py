"""Data Center mutations on code and repositories (and the clock and activity helpers all use)."""

from __future__ import annotations

import random
import re

from bbmirror.simulator.common.pools import (
    STATUS_KEYS,
    commit_hash,
    commit_message,
)
from bbmirror.simulator.server.history import JIRA_PROJECTS, SECOND
from bbmirror.simulator.server.world import (
    DcActivity,
    DcBuild,
    DcCommit,
    DcProject,
    DcPullRequest,
    DcRepository,
    DcTag,
    DcWorld,
    commit_log,
)


def _now(world: DcWorld, rng: random.Random) -> int:
    return world.tick(rng.randint(SECOND, 600 * SECOND))


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


def merge_into(
    world: DcWorld, repo: DcRepository, branch: str, sha: str, rng: random.Random
) -> str:
    """Merge ``sha`` into ``branch``: Data Center rescopes the open PRs targeting it.

    Their ``toRef.latestCommit`` moves, and what the merge brought in leaves their commits and
    diff (same-repository PRs, as ``_moved``). Not one of the random mutations: the generated
    and mutated worlds stay as they were.
    """
    t = _now(world, rng)
    message = f"Merge commit '{sha[:11]}' into {branch}"
    repo.branches[branch] = _commit(
        world, repo, [repo.branches[branch], sha], t, message, _user(world, rng)
    )
    for pr in repo.pull_requests.values():
        if pr.state == "OPEN" and pr.from_repo_id == repo.id and pr.to_branch == branch:
            _rescope(world, repo, pr, t, pr.from_commit)
    return repo.branches[branch]


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
