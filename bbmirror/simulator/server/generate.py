"""Generate a realistic, deterministic Bitbucket Server world from a seed and a named size.

One ``random.Random(seed)`` drives everything, and nothing iterates a set, so the same seed and
size always give the same world (``dumps`` is the canonical form for that test). History is laid
down in time order per repository: direct pushes, feature commits, PRs opened, rescoped by later
pushes, edited, reviewed, commented, declined or merged (a merge commit on the target branch).
Comment and activity ids are handed out afterwards in global time order. Jira keys (``ABC-123``)
appear in branch names, PR titles and commit messages. Text helpers come from ``generate.py``.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field

from bbmirror.simulator.common.clock import END_US
from bbmirror.simulator.common.pools import (
    FIRST_NAMES,
    FORCED_NAMES,
    LAST_NAMES,
    PATHS,
    PROJECTS,
    REPO_SLUGS,
    SENTENCES,
    STATUS_KEYS,
    UNKNOWN_AUTHORS,
    WHOLE_NAMES,
    allocate,
    commit_hash,
    commit_message,
    markdown,
    nickname_base,
    short_markdown,
    spread,
    title,
)
from bbmirror.simulator.common.serialize import world_to_dict
from bbmirror.simulator.server.world import (
    DcActivity,
    DcBuild,
    DcComment,
    DcCommit,
    DcParticipant,
    DcProject,
    DcPullRequest,
    DcRepository,
    DcSettings,
    DcTag,
    DcUser,
    DcWorld,
    expected_updated,
    expected_version,
)

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
END_MS = END_US // 1000
START_MS = END_MS - 540 * DAY
LAST_MS = END_MS - HOUR  # generated history stops an hour before the clock
JIRA_PROJECTS = ("ABC", "PLAT", "CORE", "UX", "OPS")
EXTRA_PROJECTS = (("INFRA", "Infrastructure"), ("SEC", "Security"), ("QA", "Quality"))


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


class _Generator:
    """One generation run: the rng, the world being built and the id bookkeeping."""

    def __init__(self, seed: int, size: DcSize, settings: DcSettings | None) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.world = DcWorld(settings=settings or DcSettings())
        self.events: list[tuple[int, int, object]] = []  # (time, seq, comment | activity)
        self.links: list[tuple[DcActivity, DcComment]] = []
        self.seq = 0

    # -- people and places ------------------------------------------------------------------

    def users(self) -> None:
        rng = self.rng
        seen: set[str] = set()
        for i in range(self.size.users):
            if i < len(FORCED_NAMES):
                display = FORCED_NAMES[i]
            elif rng.random() < 0.1:
                display = rng.choice(WHOLE_NAMES)
            else:
                display = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            slug = nickname_base(display)
            while slug in seen:
                slug = f"{nickname_base(display)}{rng.randint(2, 999)}"
            seen.add(slug)
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
        life = LAST_MS - start
        mean = max(1.0, budget * 0.8 / max(1, len(states)))
        plans = []
        for state in states:
            lo, hi = (0.7, 0.995) if state == "OPEN" else (0.02, 0.97)
            t_open = start + int(life * rng.uniform(lo, hi))
            t_close = None
            if state != "OPEN":
                duration = int(rng.lognormvariate(math.log(DAY), 1.3))
                t_close = t_open + max(5 * MINUTE, min(duration, int((LAST_MS - t_open) * 0.95)))
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

    # -- pull requests ----------------------------------------------------------------------

    def remember(self, t: int, item: object) -> None:
        self.seq += 1
        self.events.append((t, self.seq, item))

    def activity(
        self, pr: DcPullRequest, t: int, user: int, action: str, **data: object
    ) -> DcActivity:
        made = DcActivity(0, t, user, action, data=dict(data))
        pr.activities.append(made)
        self.remember(t, made)
        return made

    def pull_request(
        self, repo: DcRepository, plan: _Plan, n_comments: int, members: list[int]
    ) -> None:
        rng = self.rng
        description = markdown(rng, rng.randint(0, 3)) if rng.random() < 0.8 else ""
        pr = DcPullRequest(
            id=plan.id,
            version=0,
            title=plan.titles[-1],
            description=description,
            state=plan.state,
            author_id=plan.author,
            from_repo_id=repo.id,
            from_branch=plan.branch,
            from_commit=plan.commits[-1],
            to_branch=repo.default_branch,
            to_commit=plan.to_commit,
            created=plan.t_open,
            updated=plan.t_open,
            closed=plan.t_close,
            merge_commit=plan.merge,
            reviewers=[DcParticipant(r, "REVIEWER") for r in plan.reviewers],
            commit_ids=list(reversed(plan.commits)),
            draft=plan.state == "OPEN" and plan.id % 5 == 0,  # no draw: seeds keep their worlds
        )
        self.activity(pr, plan.t_open, plan.author, "OPENED")
        for t, data in plan.rescopes:
            self.activity(pr, t, plan.author, "RESCOPED", **data)
        for i, t in enumerate(plan.edits):
            extra = {"previousTitle": plan.titles[i], "addedReviewers": [], "removedReviewers": []}
            self.activity(pr, t, plan.author, "UPDATED", **extra)
        if plan.bounce:
            self.activity(pr, plan.bounce[0], plan.author, "DECLINED")
            self.activity(pr, plan.bounce[1], plan.author, "REOPENED")
        self.reviews(pr, plan, members)
        self.comments(pr, plan, n_comments, members)
        if plan.t_close is not None:
            extra = {"commit": plan.merge} if plan.merge else {}
            self.activity(pr, plan.t_close, plan.closer, plan.state, **extra)
        pr.activities.sort(key=lambda a: a.created)
        pr.version = expected_version(pr)
        repo.pull_requests[pr.id] = pr
        repo.last_pr_id = max(repo.last_pr_id, pr.id)

    def tip_at(self, plan: _Plan, t: int) -> str:
        return [sha for when, sha in plan.timeline if when <= t][-1]

    def reviews(self, pr: DcPullRequest, plan: _Plan, members: list[int]) -> None:
        rng = self.rng
        voters = list(plan.reviewers)
        if rng.random() < 0.1:
            voters.append(rng.choice(members))
        approve_p = 0.8 if plan.state == "MERGED" else 0.3
        for voter in dict.fromkeys(voters):
            if voter == plan.author:
                continue
            person = pr.person(voter)
            if person is None:
                person = DcParticipant(voter, "PARTICIPANT")
                pr.participants.append(person)
            t = rng.randint(plan.t_open + 1, plan.t_end - 1)
            if rng.random() < 0.15:
                self.activity(pr, t, voter, "REVIEWED")
                person.status, person.last_reviewed_commit = "NEEDS_WORK", self.tip_at(plan, t)
                t = rng.randint(t, plan.t_end - 1)
            if rng.random() < approve_p:
                self.activity(pr, t, voter, "APPROVED")
                person.status, person.last_reviewed_commit = "APPROVED", self.tip_at(plan, t)
                if rng.random() < 0.05:
                    t = rng.randint(t, plan.t_end - 1)
                    self.activity(pr, t, voter, "UNAPPROVED")
                    person.status = "UNAPPROVED"

    def comments(self, pr: DcPullRequest, plan: _Plan, n: int, members: list[int]) -> None:
        """``n`` comments in time order: threads of nested replies, file anchors, tasks, edits."""
        rng = self.rng
        if n <= 0 or plan.t_end - plan.t_open < 10:
            return
        regulars = [plan.author, *plan.reviewers]
        made: list[DcComment] = []
        for t in sorted(rng.randint(plan.t_open + 1, plan.t_end - 3) for _ in range(n)):
            user = rng.choice(regulars) if rng.random() < 0.75 else rng.choice(members)
            c = DcComment(0, user, short_markdown(rng), t, t)
            if rng.random() < 0.06:
                c.severity = "BLOCKER"
            if made and rng.random() < 0.3:
                rng.choice(made).replies.append(c)
            else:
                if rng.random() < 0.3:
                    c.anchor = self.anchor(plan, t)
                pr.comments.append(c)
                activity = self.activity(pr, t, user, "COMMENTED", commentAction="ADDED")
                self.links.append((activity, c))
            made.append(c)
            self.remember(t, c)
            if user != plan.author and pr.person(user) is None:
                pr.participants.append(DcParticipant(user, "PARTICIPANT"))
        for c in made:
            later = rng.randint(c.created + 1, plan.t_end - 1) if c.created + 1 < plan.t_end else 0
            if not later:
                continue
            if c.severity == "BLOCKER" and rng.random() < 0.5:
                c.state, c.version, c.updated = "RESOLVED", c.version + 1, max(c.updated, later)
            elif rng.random() < 0.1:
                c.text += " (edited)"
                c.version, c.updated = c.version + rng.randint(1, 2), max(c.updated, later)
        for c in made:
            if not c.replies and rng.random() < 0.03:
                c.deleted = True
                c.updated = min(plan.t_end - 1, c.updated + rng.randint(1, HOUR))

    def anchor(self, plan: _Plan, t: int) -> dict:
        rng = self.rng
        return {
            "diffType": "EFFECTIVE",
            "fromHash": plan.to_commit or plan.commits[0],
            "toHash": self.tip_at(plan, t),
            "path": rng.choice(PATHS),
            "srcPath": None,
            "line": rng.randint(1, 400),
            "lineType": rng.choice(("ADDED", "ADDED", "CONTEXT", "REMOVED")),
            "fileType": rng.choice(("TO", "TO", "FROM")),
            "orphaned": False,
        }

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


def generate_dc(
    seed: int = 0, size: str | DcSize = "small", settings: DcSettings | None = None
) -> DcWorld:
    """Build a Server world from a seed and a size name (tiny, small, medium, large).

    ``settings`` (the undocumented-behaviour switches) shape the history: with
    ``comment_bumps_pr`` off, comments do not count towards a PR's updatedDate.
    """
    chosen = SIZES[size] if isinstance(size, str) else size
    return _Generator(seed, chosen, settings).run()


def dumps(world: DcWorld) -> bytes:
    """Canonical JSON bytes of a world: same seed and size, same bytes."""
    data = world_to_dict(world)  # type: ignore[arg-type]  # generic over dataclasses
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
