"""Data Center world generation, part one: the run's state, commit histories, PR plans, builds."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bbmirror.simulator.common.clock import END_US, pr_window
from bbmirror.simulator.common.pools import (
    STATUS_KEYS,
    UNKNOWN_AUTHORS,
    commit_hash,
    commit_message,
    title,
)
from bbmirror.simulator.server.world import (
    DcActivity,
    DcBuild,
    DcComment,
    DcCommit,
    DcRepository,
    DcSettings,
    DcTag,
    DcWorld,
)

if TYPE_CHECKING:
    from bbmirror.simulator.server.generate import DcSize

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
END_MS = END_US // 1000
START_MS = END_MS - 540 * DAY
LAST_MS = END_MS - HOUR  # generated history stops an hour before the clock
JIRA_PROJECTS = ("ABC", "PLAT", "CORE", "UX", "OPS")
EXTRA_PROJECTS = (("INFRA", "Infrastructure"), ("SEC", "Security"), ("QA", "Quality"))


@dataclass(slots=True)
class _Plan:
    """Everything decided about a PR before its commits exist."""

    state: str
    t_open: int
    t_close: int | None
    author: int
    reviewers: list[int]
    pre: list[int]
    pushes: list[tuple[int, int]]  # (time, commits pushed)
    edits: list[int]
    bounce: tuple[int, int] | None  # declined then reopened
    key: str | None
    titles: list[str]
    id: int = 0
    branch: str = ""
    commits: list[str] = field(default_factory=list)  # oldest first
    timeline: list[tuple[int, str]] = field(default_factory=list)  # (t, source tip)
    rescopes: list[tuple[int, dict]] = field(default_factory=list)
    to_commit: str = ""
    merge: str | None = None
    closer: int = 0

    @property
    def t_end(self) -> int:
        return self.t_close if self.t_close is not None else LAST_MS


class History:
    """One generation run's state and its commit histories (``generate._Generator`` runs it)."""

    def __init__(self, seed: int, size: DcSize, settings: DcSettings | None) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.world = DcWorld(settings=settings or DcSettings())
        self.events: list[tuple[int, int, object]] = []  # (time, seq, comment | activity)
        self.links: list[tuple[DcActivity, DcComment]] = []
        self.seq = 0

    # -- commits ----------------------------------------------------------------------------

    def identity(self, uid: int | None) -> tuple[str, str, int | None]:
        if uid is None:
            raw = self.rng.choice(UNKNOWN_AUTHORS)
            name, _, email = raw.partition(" <")
            return name, email.rstrip(">"), None
        user = self.world.users[uid]
        return user.display_name, user.email, uid

    def commit(
        self, repo: DcRepository, parents: list[str], t: int, message: str, uid: int | None
    ) -> str:
        name, email, author_id = self.identity(uid)
        nonce = f"{self.rng.getrandbits(64):x}"
        sha = commit_hash(str(repo.id), *parents, name, str(t), message, nonce)
        repo.commits[sha] = DcCommit(
            sha, name, email, t, name, email, t, message, list(parents), author_id
        )
        return sha

    def message(self, key: str | None, p: float) -> str:
        text = commit_message(self.rng)
        return f"{key} {text}" if key and self.rng.random() < p else text

    # -- pull request plans -----------------------------------------------------------------

    def plan(self, repo: DcRepository, members: list[int], states: list[str], budget: int) -> list:
        rng = self.rng
        start = repo_start(repo)
        mean = max(1.0, budget * 0.8 / max(1, len(states)))
        plans = []
        for state in states:
            t_open, t_close = pr_window(rng, state, start, LAST_MS, MINUTE, DAY)
            t_end = t_close if t_close is not None else LAST_MS
            k = min(12, 1 + (int(rng.expovariate(1 / (mean - 1))) if mean > 1 else 0))
            n_push = rng.randint(1, min(2, k - 1)) if k > 1 and rng.random() < 0.3 else 0
            pre_n = k - n_push
            lead = min(rng.randint(10 * MINUTE, 3 * DAY), (t_open - start) // 2)
            pre = sorted(rng.randint(t_open - lead, t_open - MINUTE) for _ in range(pre_n))
            pushes = sorted((rng.randint(t_open + 1, t_end - 1), 1) for _ in range(n_push))
            edits = sorted(rng.randint(t_open + 1, t_end - 1) for _ in range(rng.random() < 0.1))
            bounce = None
            if state != "DECLINED" and rng.random() < 0.03:
                a, b = sorted(rng.randint(t_open + 1, t_end - 1) for _ in range(2))
                bounce = (a, b + 1)
            author = rng.choice(members)
            others = [m for m in members if m != author]
            reviewers = rng.sample(others, min(len(others), rng.choice((0, 1, 1, 2, 2, 3))))
            key = None
            if rng.random() < 0.7:
                key = f"{rng.choice(JIRA_PROJECTS)}-{rng.randint(1, 400)}"
            titles = [title(rng) for _ in range(1 + len(edits))]
            if key and rng.random() < 0.6:
                titles = [f"{key} {t}" for t in titles]
            plans.append(
                _Plan(
                    state,
                    t_open,
                    t_close,
                    author,
                    reviewers,
                    pre,
                    pushes,
                    edits,
                    bounce,
                    key,
                    titles,
                )
            )
        plans.sort(key=lambda p: p.t_open)
        used: set[str] = set()
        for number, plan in enumerate(plans, start=1):
            plan.id = number
            prefix = rng.choice(("feature", "feature", "bugfix", "hotfix"))
            words = [w for w in plan.titles[0].lower().split() if w.isascii() and w.isalpha()]
            stem = "-".join([*([plan.key] if plan.key else []), *words[1:4]])
            branch = f"{prefix}/{stem}"
            if branch in used:
                branch = f"{branch}-{number}"
            used.add(branch)
            plan.branch = branch
        return plans

    def history(self, repo: DcRepository, members: list[int], plans: list, budget: int) -> None:
        """Lay down the commit DAG in time order: pushes, feature work, merges, tags."""
        rng = self.rng
        start = repo_start(repo)
        used = sum(len(p.pre) + len(p.pushes) + (p.state == "MERGED") for p in plans)
        events: list[tuple[int, int, str, _Plan | None]] = []
        for _ in range(max(3, budget - used)):
            events.append((rng.randint(start + 5 * MINUTE, LAST_MS - MINUTE), 0, "main", None))
        for _ in range(max(1, budget // 150)):
            events.append((rng.randint(start + DAY, LAST_MS - MINUTE), 1, "tag", None))
        for plan in plans:
            events += [(t, 2, "feat", plan) for t in plan.pre]
            events.append((plan.t_open, 3, "open", plan))
            events += [(t, 4, "push", plan) for t, _ in plan.pushes]
            if plan.t_close is not None:
                events.append((plan.t_close, 5, plan.state, plan))
        events.sort(key=lambda e: (e[0], e[1], e[3].id if e[3] else 0))
        head = self.commit(repo, [], start + MINUTE, "Initial commit", members[0])
        version = [1, 0, 0]
        project = self.world.projects[repo.project_id]
        for t, _, kind, plan in events:
            if kind == "main":
                uid = rng.choice(members) if rng.random() > 0.05 else None
                key = f"{rng.choice(JIRA_PROJECTS)}-{rng.randint(1, 400)}"
                head = self.commit(repo, [head], t, self.message(key, 0.2), uid)
            elif kind == "tag":
                name = "v" + ".".join(map(str, version))
                version[2] += 1
                if rng.random() < 0.25:
                    version[1], version[2] = version[1] + 1, 0
                annotated = commit_hash(name, head) if rng.random() < 0.6 else None
                repo.tags[name] = DcTag(name, head, annotated)
            elif kind == "feat":
                assert plan is not None
                parent = plan.commits[-1] if plan.commits else head
                plan.commits.append(
                    self.commit(repo, [parent], t, self.message(plan.key, 0.7), plan.author)
                )
            elif kind == "open":
                assert plan is not None
                plan.to_commit = head
                plan.timeline.append((t, plan.commits[-1]))
            elif kind == "push":
                assert plan is not None
                before, before_to = plan.commits[-1], plan.to_commit
                sha = self.commit(repo, [before], t, self.message(plan.key, 0.7), plan.author)
                plan.commits.append(sha)
                plan.to_commit = head
                plan.timeline.append((t, sha))
                data = {
                    "fromHash": sha,
                    "previousFromHash": before,
                    "previousToHash": before_to,
                    "toHash": head,
                    "added": [sha],
                    "removed": [],
                }
                plan.rescopes.append((t, data))
            elif kind == "MERGED":
                assert plan is not None
                plan.closer = self.closer(plan)
                msg = (
                    f"Merge pull request #{plan.id} in {project.key}/{repo.slug} from "
                    f"{plan.branch} to {repo.default_branch}\n\n* commit "
                    f"'{plan.commits[-1]}':\n  {plan.titles[-1]}"
                )
                head = self.commit(repo, [head, plan.commits[-1]], t, msg, plan.closer)
                plan.merge = plan.to_commit = head
            else:  # DECLINED
                assert plan is not None
                plan.closer = self.closer(plan)
        repo.branches[repo.default_branch] = head
        if repo.tags:
            newest = list(repo.tags.values())[-1]
            major, minor = newest.name[1:].split(".")[:2]
            repo.branches[f"release/{major}.{minor}"] = newest.target
        for plan in plans:
            if plan.state != "MERGED" or plan.id % 3 == 0:
                repo.branches[plan.branch] = plan.commits[-1]

    def closer(self, plan: _Plan) -> int:
        if plan.reviewers and self.rng.random() < 0.5:
            return self.rng.choice(plan.reviewers)
        return plan.author

    def builds(self, repo: DcRepository, plans: list) -> None:
        rng = self.rng
        targets = [(p.commits[-1], f"refs/heads/{p.branch}") for p in plans if rng.random() < 0.4]
        targets += [
            (p.merge, f"refs/heads/{repo.default_branch}")
            for p in plans
            if p.merge and rng.random() < 0.3
        ]
        for sha, ref in targets:
            for key in rng.sample(STATUS_KEYS, rng.randint(1, 2)):
                number = rng.randint(1, 9999)
                added = min(repo.commits[sha].committer_ts + rng.randint(MINUTE, HOUR), LAST_MS)
                state = rng.choices(("SUCCESSFUL", "FAILED", "INPROGRESS"), (82, 13, 5))[0]
                repo.builds.setdefault(sha, []).append(
                    DcBuild(
                        key=f"{key.upper()}-{repo.slug.upper()}",
                        state=state,
                        name=f"{key} #{number}",
                        url=f"https://ci.example.com/{repo.slug}/{number}",
                        description=rng.choice(("", "Tests passed", "2 tests failed")),
                        date_added=added,
                        ref=ref,
                        build_number=str(number),
                        duration=rng.randint(10, 900) * SECOND,
                    )
                )


def repo_start(repo: DcRepository) -> int:
    """When a generated repository was created (spread over the first two months)."""
    return START_MS + (repo.id * 7919 % 60) * DAY


def pr_states(rng: random.Random, n: int) -> list[str]:
    """Mostly MERGED, some OPEN and DECLINED; each at least once when n >= 3."""
    minimum = 1 if n >= 3 else 0
    opened = max(minimum, round(n * 0.1))
    declined = max(minimum, round(n * 0.15))
    states = (["OPEN"] * opened + ["DECLINED"] * declined + ["MERGED"] * n)[:n]
    rng.shuffle(states)
    return states
