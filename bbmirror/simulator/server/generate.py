"""Generate a realistic, deterministic Bitbucket Server world from a seed and a named size.

One ``random.Random(seed)`` drives everything, and nothing iterates a set, so the same seed and
size always give the same world (``common.serialize.dumps`` is the canonical form). History is laid
down in time order per repository: direct pushes, feature commits, PRs opened, rescoped by later
pushes, edited, reviewed, commented, declined or merged (a merge commit on the target branch).
Comment and activity ids are handed out afterwards in global time order. Jira keys (``ABC-123``)
appear in branch names, PR titles and commit messages. The run is split along its jobs:
``history.py`` (commits, PR plans, builds) and ``discussion.py`` (PRs, reviews, comments); text
and time come from ``common/pools.py`` and ``common/clock.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bbmirror.simulator.common.pools import (
    PROJECTS,
    REPO_SLUGS,
    SENTENCES,
    allocate,
    person,
    spread,
)
from bbmirror.simulator.server.discussion import Discussion
from bbmirror.simulator.server.history import END_MS, EXTRA_PROJECTS, pr_states
from bbmirror.simulator.server.world import (
    DcActivity,
    DcComment,
    DcProject,
    DcRepository,
    DcSettings,
    DcUser,
    DcWorld,
    expected_updated,
)


@dataclass(frozen=True)
class DcSize:
    """Explicit counts for a generated Server world (the last repository is a personal one)."""

    projects: int
    users: int
    repos: int
    prs: int
    comments: int
    commits: int


SIZES: dict[str, DcSize] = {
    "tiny": DcSize(projects=2, users=8, repos=3, prs=12, comments=60, commits=80),
    "small": DcSize(projects=3, users=30, repos=5, prs=200, comments=1500, commits=1500),
    "medium": DcSize(projects=4, users=120, repos=8, prs=5000, comments=20000, commits=20000),
    "large": DcSize(projects=6, users=400, repos=24, prs=20000, comments=80000, commits=80000),
}


class _Generator(Discussion):
    """One generation run: the rng, the world being built and the id bookkeeping."""

    # -- people and places ------------------------------------------------------------------

    def users(self) -> None:
        rng = self.rng
        seen: set[str] = set()
        for i in range(self.size.users):
            display, slug = person(rng, i, seen)
            name = slug.capitalize() if rng.random() < 0.1 else slug  # slug may differ from name
            uid = self.world.next_user_id
            self.world.next_user_id += 1
            active = i < 3 or rng.random() > 0.05
            self.world.users[uid] = DcUser(uid, name, slug, display, f"{slug}@example.com", active)

    def projects(self) -> list[DcProject]:
        rng = self.rng
        pool = list(PROJECTS) + list(EXTRA_PROJECTS)
        made = []
        for i in range(self.size.projects):
            key, name = pool[i % len(pool)]
            if i >= len(pool):
                key = f"{key}{i}"
            made.append(self.add_project(key, name, rng.choice(SENTENCES), rng.random() < 0.3))
        owner = self.world.users[2 if len(self.world.users) > 1 else 1]
        personal = self.add_project("~" + owner.slug.upper(), owner.display_name, "", False)
        personal.type, personal.owner_id = "PERSONAL", owner.id
        return [*made, personal]

    def add_project(self, key: str, name: str, description: str, public: bool) -> DcProject:
        pid = self.world.next_project_id
        self.world.next_project_id += 1
        project = DcProject(pid, key, name, description, public)
        self.world.projects[pid] = project
        return project

    def repositories(self, projects: list[DcProject]) -> list[DcRepository]:
        rng = self.rng
        repos = []
        normal = projects[:-1]
        for i in range(self.size.repos):
            project = projects[-1] if i == self.size.repos - 1 else normal[i % len(normal)]
            slug = REPO_SLUGS[i % len(REPO_SLUGS)] + (f"-{i}" if i >= len(REPO_SLUGS) else "")
            rid = self.world.next_repo_id
            self.world.next_repo_id += 1
            repo = DcRepository(
                id=rid,
                slug=slug,
                name=slug if rng.random() < 0.7 else slug.replace("-", " ").title(),
                description=rng.choice(SENTENCES),
                project_id=project.id,
                public=project.public or rng.random() < 0.1,
                forkable=rng.random() < 0.8,
                default_branch="master" if rng.random() < 0.4 else "main",
                hierarchy_id=f"{rng.getrandbits(80):020x}",
            )
            self.world.repositories[rid] = repo
            repos.append(repo)
        return repos

    # -- the whole run ----------------------------------------------------------------------

    def run(self) -> DcWorld:
        rng = self.rng
        size = self.size
        self.users()
        projects = self.projects()
        repos = self.repositories(projects)
        weights = [1.5 if i == 0 else rng.uniform(0.3, 1.0) for i in range(len(repos))]
        weights[-1] = 0.1  # the personal repository is small
        pr_counts = allocate(rng, size.prs, weights, minimum=1 if size.prs >= len(repos) else 0)
        commit_counts = allocate(rng, size.commits, weights, minimum=5)
        comment_counts = spread(rng, size.comments, size.prs)
        states = pr_states(rng, size.prs)
        user_ids = list(self.world.users)
        at = 0
        for repo, n_prs, n_commits in zip(repos, pr_counts, commit_counts, strict=True):
            members = rng.sample(user_ids, max(2, min(len(user_ids), len(user_ids) * 2 // 3)))
            plans = self.plan(repo, members, states[at : at + n_prs], n_commits)
            self.history(repo, members, plans, n_commits)
            self.builds(repo, plans)
            for plan, n in zip(plans, comment_counts[at : at + n_prs], strict=True):
                self.pull_request(repo, plan, n, members)
            at += n_prs
        self.number()
        for repo in repos:
            for pr in repo.pull_requests.values():
                pr.updated = expected_updated(pr, self.world.settings)
        for repo in repos:
            repo.labels = labels(repo)
        self.world.clock = END_MS
        return self.world

    def number(self) -> None:
        """Comment and activity ids from global sequences, increasing with time."""
        self.events.sort(key=lambda e: (e[0], e[1]))
        for _, _, item in self.events:
            if isinstance(item, DcComment):
                item.id = self.world.next_comment_id
                self.world.next_comment_id += 1
            else:
                assert isinstance(item, DcActivity)
                item.id = self.world.next_activity_id
                self.world.next_activity_id += 1
        for activity, comment in self.links:
            activity.comment_id = comment.id


LABELS = ("backend", "frontend", "deprecated", "team-a", "team-b", "pci", "java-17", "infra")


def labels(repo: DcRepository) -> list[str]:
    """Zero to three labels, from an rng of their own: the rest of the world keeps its bytes."""
    pick = random.Random(f"labels/{repo.id}/{repo.slug}")
    return sorted(pick.sample(LABELS, pick.randint(0, 3)))


def generate_dc(
    seed: int = 0, size: str | DcSize = "small", settings: DcSettings | None = None
) -> DcWorld:
    """Build a Server world from a seed and a size name (tiny, small, medium, large).

    ``settings`` (the undocumented-behaviour switches) shape the history: with
    ``comment_bumps_pr`` off, comments do not count towards a PR's updatedDate.
    """
    chosen = SIZES[size] if isinstance(size, str) else size
    return _Generator(seed, chosen, settings).run()
