"""Generate a realistic, deterministic Bitbucket Cloud world from a seed and a named size.

Everything comes from one ``random.Random(seed)``: uuids, text, times and the nonces hashed into
commit ids, so the same seed and size always give the same world. Timestamps spread over the
540 days before ``World().clock``. The choices made where the API docs are silent are listed in
``docs/simulator.md`` ("World generation and mutations"). The run is split along its jobs:
``history.py`` (commits, PR plans), ``discussion.py`` (PRs, comments, issues), ``issue_fields.py``;
time and text come from ``common/clock.py`` and ``common/pools.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bbmirror.simulator.cloud import deploys, pipelines
from bbmirror.simulator.cloud.discussion import Discussion
from bbmirror.simulator.cloud.history import member_uuids
from bbmirror.simulator.cloud.insights import generate_insights
from bbmirror.simulator.cloud.tasks import generate_tasks
from bbmirror.simulator.cloud.world import (
    Membership,
    Named,
    Project,
    Repository,
    User,
    Workspace,
    World,
)
from bbmirror.simulator.common.clock import DAY, END_US, HOUR, MINUTE, START_US, iso, to_us
from bbmirror.simulator.common.pools import (
    COMPONENTS,
    LANGUAGES,
    PROJECTS,
    REPO_SLUGS,
    SENTENCES,
    WORKSPACES,
    allocate,
    new_uuid,
    person,
    spread,
)

# ---------------------------------------------------------------------------------------------
# Sizes


@dataclass(frozen=True)
class Size:
    """Explicit counts for a generated world (comments span PRs and issues)."""

    workspaces: int
    users: int
    repos: int
    prs: int
    issues: int
    comments: int
    commits: int


SIZES: dict[str, Size] = {
    "tiny": Size(workspaces=1, users=8, repos=3, prs=12, issues=12, comments=60, commits=80),
    "small": Size(
        workspaces=2, users=30, repos=4, prs=200, issues=100, comments=1500, commits=1500
    ),
    "medium": Size(
        workspaces=3, users=120, repos=8, prs=5000, issues=2000, comments=20000, commits=20000
    ),
    "large": Size(
        workspaces=5, users=400, repos=24, prs=20000, issues=8000, comments=80000, commits=80000
    ),
}


class _Generator(Discussion):
    """One generation run: the rng, the world being built and renumbering bookkeeping."""

    # -- people and places ------------------------------------------------------------------

    def users(self) -> list[User]:
        rng = self.rng
        seen: set[str] = set()
        users = []
        for i in range(self.size.users):
            name, nick = person(rng, i, seen)
            user_uuid = new_uuid(rng)
            if rng.random() < 0.6:
                account_id = "557058:" + user_uuid[1:-1]
            else:
                account_id = f"{rng.getrandbits(96):024x}"
            created = START_US - rng.randint(30 * DAY, 3 * 365 * DAY)
            self.user_times[user_uuid] = created
            users.append(User(user_uuid, account_id, name, nick, iso(created)))
        for user in users:
            self.world.users[user.uuid] = user
        return users

    def workspaces(self, users: list[User]) -> list[Workspace]:
        rng = self.rng
        result = []
        covered: set[str] = set()
        for i in range(self.size.workspaces):
            slug, name = WORKSPACES[i % len(WORKSPACES)]
            if i >= len(WORKSPACES):
                slug = f"{slug}-{i}"
            created = START_US - rng.randint(30 * DAY, 365 * DAY)
            ws = Workspace(
                uuid=new_uuid(rng),
                slug=slug,
                name=name,
                is_private=rng.random() < 0.7,
                created_on=iso(created),
                updated_on=iso(created + rng.randint(MINUTE, 200 * DAY)),
            )
            share = 1.0 if i == 0 else rng.uniform(0.3, 0.7)
            chosen = rng.sample(users, max(2, min(len(users), round(len(users) * share))))
            if i == self.size.workspaces - 1:  # everybody belongs somewhere
                picked = {u.uuid for u in chosen}
                chosen += [u for u in users if u.uuid not in covered and u.uuid not in picked]
            for j, user in enumerate(chosen):
                covered.add(user.uuid)
                permission = "owner" if j == 0 or rng.random() < 0.05 else "member"
                if permission == "member" and rng.random() < 0.1:
                    permission = "collaborator"
                since = max(created, self.user_times[user.uuid]) + rng.randint(MINUTE, 60 * DAY)
                ws.members.append(Membership(user.uuid, permission, iso(since)))
            for key, pname in PROJECTS[: rng.randint(1, 3)]:
                p_created = created + rng.randint(MINUTE, 20 * DAY)
                ws.projects[key] = Project(
                    uuid=new_uuid(rng),
                    key=key,
                    name=pname,
                    description=rng.choice(SENTENCES),
                    is_private=ws.is_private or rng.random() < 0.5,
                    created_on=iso(p_created),
                    updated_on=iso(p_created + rng.randint(0, 300 * DAY)),
                )
            self.world.workspaces[slug] = ws
            result.append(ws)
        return result

    def repositories(self, workspaces: list[Workspace]) -> list[Repository]:
        rng = self.rng
        repos = []
        used: set[tuple[str, str]] = set()
        for i in range(self.size.repos):
            ws = workspaces[i % len(workspaces)]
            slug = REPO_SLUGS[i % len(REPO_SLUGS)]
            if (ws.slug, slug) in used:
                slug = f"{slug}-{i}"
            used.add((ws.slug, slug))
            created = max(to_us(p.created_on) for p in ws.projects.values()) + HOUR
            created = max(created, START_US + rng.randint(0, 60 * DAY))
            repo = Repository(
                uuid=new_uuid(rng),
                workspace=ws.slug,
                slug=slug,
                name=slug if rng.random() < 0.7 else slug.replace("-", " ").title(),
                description=rng.choice(SENTENCES),
                is_private=rng.random() < 0.7,
                has_issues=i != 1,  # repo #1 has the tracker switched off
                mainbranch="main" if rng.random() < 0.6 else "master",
                language=rng.choice(LANGUAGES),
                size=rng.randint(50_000, 80_000_000),
                created_on=iso(created),
                updated_on=iso(created),
                project_key=rng.choice(list(ws.projects)),
                fork_policy=rng.choice(("allow_forks", "no_public_forks", "no_forks")),
            )
            if repo.has_issues:
                for j in range(rng.randint(0, 4)):
                    repo.milestones[j + 1] = Named(j + 1, f"M{j + 1}")
                for j in range(rng.randint(0, 4)):
                    repo.versions[j + 1] = Named(j + 1, f"{1 + j // 2}.{j % 2}")
                for j, name in enumerate(rng.sample(COMPONENTS, rng.randint(0, 4))):
                    repo.components[j + 1] = Named(j + 1, name)
            self.world.repositories[repo.uuid] = repo
            repos.append(repo)
        return repos

    # -- the whole run ----------------------------------------------------------------------

    def run(self) -> World:
        rng = self.rng
        size = self.size
        users = self.users()
        workspaces = self.workspaces(users)
        repos = self.repositories(workspaces)
        self.first_repo = repos[0]
        n_repos = len(repos)
        weights = [1.5 if i == 0 else rng.uniform(0.3, 1.0) for i in range(n_repos)]
        pr_counts = allocate(rng, size.prs, weights, minimum=1 if size.prs >= n_repos else 0)
        commit_counts = allocate(rng, size.commits, weights, minimum=5)
        tracker = [i for i, r in enumerate(repos) if r.has_issues]
        if len(tracker) >= 2:
            tracker = tracker[:-1]  # the last tracker-enabled repository stays empty
        issue_weights = [weights[i] if i in tracker else 0.0 for i in range(n_repos)]
        issue_counts = allocate(rng, size.issues, issue_weights) if tracker else [0] * n_repos

        states = self.pr_states(size.prs)
        plans_by_repo = []
        offset = 0
        for repo, n_prs, n_commits in zip(repos, pr_counts, commit_counts, strict=True):
            members = member_uuids(self.world, repo)
            plans = self.plan_prs(repo, members, states[offset : offset + n_prs], n_commits)
            offset += n_prs
            self.history(repo, members, plans, n_commits)
            plans_by_repo.append(plans)

        total_issues = sum(issue_counts)
        pr_share = size.comments * 6 // 10 if total_issues else size.comments
        pr_comments = spread(rng, pr_share, sum(pr_counts))
        issue_comments = spread(rng, size.comments - pr_share, total_issues)
        long_at = rng.randrange(total_issues) if total_issues else -1
        pr_at = issue_at = 0
        for repo, plans, n_issues in zip(repos, plans_by_repo, issue_counts, strict=True):
            self.pull_requests(repo, plans, pr_comments[pr_at : pr_at + len(plans)])
            pr_at += len(plans)
            self.issues(repo, n_issues, issue_comments[issue_at : issue_at + n_issues], long_at)
            long_at -= n_issues
            issue_at += n_issues
        self.renumber()
        for repo in repos:
            repo.default_reviewers = default_reviewers(self.world, repo)
        pipelines.generate(self.world)  # an rng of its own per repository
        deploys.populate(self.world)  # own rng per repository: other bytes unchanged
        generate_tasks(self.world)  # an rng of its own: every other byte is unchanged
        generate_insights(self.world)  # likewise
        self.world.clock = iso(END_US)
        return self.world

    def pr_states(self, n: int) -> list[str]:
        """Mostly MERGED, some OPEN and DECLINED, a few SUPERSEDED; each at least once if n >= 4."""
        minimum = 1 if n >= 4 else 0
        opened = max(minimum, round(n * 0.1))
        declined = max(minimum, round(n * 0.12))
        superseded = max(minimum, round(n * 0.03))
        merged = max(0, n - opened - declined - superseded)
        states = ["OPEN"] * opened + ["DECLINED"] * declined + ["SUPERSEDED"] * superseded
        states = (states + ["MERGED"] * merged)[:n]
        self.rng.shuffle(states)
        return states

    def renumber(self) -> None:
        """Give comments and changes ids in time order from one global sequence.

        Bitbucket numbers issue changes from the same sequence as comments (a change's html
        link is ``#comment-{id}``), so a change id never equals a comment id.
        """
        mapping: dict[int, int] = {}
        events = [(t, order, "comment", item) for t, order, item in self.comments]
        events += [(t, order, "change", item) for t, order, item in self.changes]
        next_id = self.world.next_comment_id
        for _, temp, kind, item in sorted(events, key=lambda x: (x[0], x[2], x[1])):
            if kind == "comment":
                mapping[temp] = next_id
            item.id = next_id
            next_id += 1
        for _, _, comment in self.comments:
            if comment.parent_id is not None:
                comment.parent_id = mapping[comment.parent_id]
        for activity in self.pr_activity:
            activity.comment_id = mapping[activity.comment_id]  # type: ignore[index]
        self.world.next_comment_id = next_id


def default_reviewers(world: World, repo: Repository) -> list[str]:
    """Zero to three workspace members, from an rng of their own: other data keeps its bytes."""
    pick = random.Random(f"default-reviewers/{repo.uuid}")
    members = member_uuids(world, repo)
    return pick.sample(members, pick.randint(0, min(3, len(members))))


def generate(seed: int = 0, size: str | Size = "small") -> World:
    """Build a world from a seed and a size name (tiny, small, medium, large) or a ``Size``."""
    chosen = SIZES[size] if isinstance(size, str) else size
    return _Generator(seed, chosen).run()
