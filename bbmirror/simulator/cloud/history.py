"""Cloud world generation, part one: the run's state, commit histories and PR plans."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bbmirror.simulator.cloud.world import (
    Activity,
    Comment,
    Commit,
    CommitStatus,
    IssueChange,
    Repository,
    Tag,
    User,
    World,
)
from bbmirror.simulator.common.clock import (
    DAY,
    LAST_US,
    MINUTE,
    commit_date,
    iso,
    offset_for,
    pr_window,
    to_us,
)
from bbmirror.simulator.common.pools import (
    STATUS_KEYS,
    UNKNOWN_AUTHORS,
    commit_hash,
    commit_message,
    long_commit_message,
    new_uuid,
    title,
)

if TYPE_CHECKING:
    from bbmirror.simulator.cloud.generate import Size


def author_raw(user: User) -> str:
    """The git author line of a Bitbucket user."""
    return f"{user.display_name} <{user.nickname}@example.com>"


def member_uuids(world: World, repo: Repository) -> list[str]:
    """Uuids of the members of the repository's workspace (the people who act on it)."""
    workspace = world.workspaces.get(repo.workspace)
    members = [m.user_uuid for m in workspace.members] if workspace else []
    return members or list(world.users)


@dataclass(slots=True)
class _PrPlan:
    """Everything decided about a PR before its commits exist."""

    state: str
    t_open: int
    t_close: int | None
    author: str
    reviewers: list[str]
    pre_times: list[int]
    post_times: list[int]
    edit_times: list[int]
    titles: list[str]
    branch: str = ""
    id: int = 0
    commits: list[str] = field(default_factory=list)
    snaps: list[tuple[int, str, str, str]] = field(default_factory=list)  # t, kind, src, dest
    open_src: str = ""
    open_dest: str = ""
    close_dest: str = ""
    merge: str | None = None
    closed_by: str | None = None

    @property
    def t_end(self) -> int:
        return self.t_close if self.t_close is not None else LAST_US


class History:
    """One generation run's state and its commit histories (``generate._Generator`` runs it)."""

    def __init__(self, seed: int, size: Size) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.world = World()
        self.comments: list[tuple[int, int, Comment]] = []  # (created us, temp id, comment)
        self.changes: list[tuple[int, int, IssueChange]] = []
        self.pr_activity: list[Activity] = []
        self.temp_id = 0
        self.soft_deleted = 0
        self.user_times: dict[str, int] = {}
        self.first_repo: Repository | None = None

    # -- commits and pull requests ----------------------------------------------------------

    def author_of(self, member: str) -> tuple[str, str | None]:
        user = self.world.users[member]
        return author_raw(user), member

    def commit(
        self,
        repo: Repository,
        parents: list[str],
        us: int,
        message: str,
        author: tuple[str, str | None],
    ) -> Commit:
        raw, user_uuid = author
        date = commit_date(us, offset_for(raw))
        nonce = f"{self.rng.getrandbits(64):x}"
        sha = commit_hash(repo.uuid, *parents, raw, date, message, nonce)
        made = Commit(sha, raw, user_uuid, date, message, list(parents))
        repo.commits[sha] = made
        return made

    def plan_prs(
        self, repo: Repository, members: list[str], states: list[str], commit_budget: int
    ) -> list[_PrPlan]:
        rng = self.rng
        start = to_us(repo.created_on) + 10 * MINUTE
        merges = sum(1 for s in states if s == "MERGED")
        mean = max(1.0, (commit_budget * 0.85 - merges) / max(1, len(states)))
        plans = []
        for state in states:
            t_open, t_close = pr_window(rng, state, start, LAST_US, MINUTE, DAY)
            t_end = t_close if t_close is not None else LAST_US
            k = 1 + (int(rng.expovariate(1 / (mean - 1))) if mean > 1 else 0)
            k = min(k, 15)
            post = rng.randint(1, min(3, k - 1)) if k > 1 and rng.random() < 0.3 else 0
            lead = min(rng.randint(10 * MINUTE, 3 * DAY), (t_open - start) // 2)
            pre_times = sorted(rng.randint(t_open - lead, t_open - MINUTE) for _ in range(k - post))
            post_times = sorted(rng.randint(t_open + 1, t_end - 1) for _ in range(post))
            edits = sorted(rng.randint(t_open + 1, t_end - 1) for _ in range(rng.random() < 0.1))
            author = rng.choice(members)
            others = [m for m in members if m != author]
            reviewers = rng.sample(others, min(len(others), rng.choice((0, 1, 1, 2, 2, 3))))
            plans.append(
                _PrPlan(
                    state=state,
                    t_open=t_open,
                    t_close=t_close,
                    author=author,
                    reviewers=reviewers,
                    pre_times=pre_times,
                    post_times=post_times,
                    edit_times=edits,
                    titles=[title(rng) for _ in range(1 + len(edits))],
                )
            )
        plans.sort(key=lambda p: p.t_open)
        for number, plan in enumerate(plans, start=1):
            plan.id = number
            prefix = rng.choice(("feature", "feature", "bugfix", "hotfix", "chore"))
            words = plan.titles[0].lower().split()[1:4]
            slug = "-".join("".join(ch for ch in w if ch.isalnum()) for w in words)
            plan.branch = f"{prefix}/{repo.project_key or 'X'}-{number}-{slug}".rstrip("-")
        return plans

    def history(
        self, repo: Repository, members: list[str], plans: list[_PrPlan], budget: int
    ) -> None:
        """Lay down the commit DAG in time order: direct pushes, feature branches, merges, tags."""
        rng = self.rng
        start = to_us(repo.created_on)
        used = sum(len(p.pre_times) + len(p.post_times) + (p.state == "MERGED") for p in plans)
        direct = max(3, budget - used)
        events: list[tuple[int, int, str, _PrPlan | None, int]] = []
        seq = 0

        def add(t: int, kind: str, plan: _PrPlan | None = None, j: int = 0) -> None:
            nonlocal seq
            events.append((t, seq, kind, plan, j))
            seq += 1

        for _ in range(direct):
            add(rng.randint(start + 5 * MINUTE, LAST_US - MINUTE), "main")
        for _ in range(max(1, (budget + direct) // 150)):
            add(rng.randint(start + DAY, LAST_US - MINUTE), "tag")
        for plan in plans:
            for j, t in enumerate(plan.pre_times + plan.post_times):
                add(t, "feat", plan, j)
            add(plan.t_open, "open", plan)
            for t in plan.edit_times:
                add(t, "edit", plan)
            if plan.state == "MERGED":
                add(plan.t_close, "merge", plan)
            elif plan.t_close is not None:
                add(plan.t_close, "close", plan)
        events.sort(key=lambda e: (e[0], e[1]))

        first_author = (
            (UNKNOWN_AUTHORS[0], None) if repo is self.first_repo else self.author_of(members[0])
        )
        message = long_commit_message(rng) if repo is self.first_repo else "Initial commit"
        head = self.commit(repo, [], start + MINUTE, message, first_author).hash
        times = {head: start + MINUTE}
        last = start + MINUTE
        version = [1, 0, 0]
        for t, _, kind, plan, j in events:
            last = max(last, t)
            if kind == "main":
                author = self.author_of(rng.choice(members))
                if rng.random() < 0.05:
                    author = (rng.choice(UNKNOWN_AUTHORS), None)
                head = self.commit(repo, [head], t, commit_message(rng), author).hash
                times[head] = t
            elif kind == "feat":
                assert plan is not None
                parent = head if j == 0 else plan.commits[-1]
                made = self.commit(
                    repo, [parent], t, commit_message(rng), self.author_of(plan.author)
                )
                times[made.hash] = t
                plan.commits.append(made.hash)
                if j >= len(plan.pre_times):
                    plan.snaps.append((t, "push", made.hash, head))
            elif kind == "open":
                assert plan is not None
                plan.open_src, plan.open_dest = plan.commits[-1], head
            elif kind == "edit":
                assert plan is not None
                plan.snaps.append((t, "edit", plan.commits[-1], head))
            elif kind == "merge":
                assert plan is not None
                plan.closed_by = self.closer(plan)
                plan.close_dest = head
                msg = f"Merged in {plan.branch} (pull request #{plan.id})\n\n{plan.titles[-1]}"
                made = self.commit(
                    repo, [head, plan.commits[-1]], t, msg, self.author_of(plan.closed_by)
                )
                head = plan.merge = made.hash
                times[head] = t
            elif kind == "close":
                assert plan is not None
                plan.close_dest = head
            elif kind == "tag":
                name = "v" + ".".join(map(str, version))
                version[2] += 1
                if rng.random() < 0.25:
                    version[1] += 1
                    version[2] = 0
                tagger = author_raw(self.world.users[rng.choice(members)])
                if rng.random() < 0.6:
                    date = commit_date(t, offset_for(tagger))
                    repo.tags[name] = Tag(name, head, date, f"Release {name}\n", tagger)
                else:
                    repo.tags[name] = Tag(name, head)
        repo.branches[repo.mainbranch] = head
        if repo.tags:
            newest = list(repo.tags.values())[-1]
            major, minor = newest.name[1:].split(".")[:2]
            repo.branches[f"release/{major}.{minor}"] = newest.target
        repo.updated_on = iso(last)
        self.statuses(repo, plans, times)

    def closer(self, plan: _PrPlan) -> str:
        """Who merged or declined: the author or one of the reviewers."""
        if plan.reviewers and self.rng.random() < 0.5:
            return self.rng.choice(plan.reviewers)
        return plan.author

    def statuses(self, repo: Repository, plans: list[_PrPlan], times: dict[str, int]) -> None:
        rng = self.rng
        targets: list[tuple[str, str | None]] = []
        for plan in plans:
            if rng.random() < 0.4:
                targets.append((plan.commits[-1], plan.branch))
            if plan.merge and rng.random() < 0.3:
                targets.append((plan.merge, repo.mainbranch))
        for sha, ref in targets:
            for key in rng.sample(STATUS_KEYS, rng.randint(1, 2)):
                created = min(times[sha] + rng.randint(MINUTE, 30 * MINUTE), LAST_US)
                updated = min(created + rng.randint(0, 20 * MINUTE), LAST_US)
                state = rng.choices(
                    ("SUCCESSFUL", "FAILED", "INPROGRESS", "STOPPED"), (80, 12, 5, 3)
                )[0]
                number = rng.randint(1, 9999)
                repo.statuses.setdefault(sha, []).append(
                    CommitStatus(
                        uuid=new_uuid(rng),
                        key=f"{key}-{number}",
                        state=state,
                        name=f"{key} #{number}",
                        description=rng.choice(("", "Tests passed", "2 tests failed")),
                        url=f"https://ci.example.com/{repo.full_name}/{number}",
                        refname=ref if rng.random() < 0.8 else None,
                        created_on=iso(created),
                        updated_on=iso(updated),
                    )
                )
