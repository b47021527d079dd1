"""Generate a realistic, deterministic Bitbucket Cloud world from a seed and a named size.

Everything comes from one ``random.Random(seed)``: uuids, text, times and the nonces hashed into
commit ids, so the same seed and size always give the same world. Timestamps spread over the
540 days before ``World().clock``. The choices made where the API docs are silent are listed in
``docs/simulator.md`` ("World generation and mutations"). The time, id and text helpers here are
shared with ``mutate.py``.
"""

from __future__ import annotations

import hashlib
import math
import random
import unicodedata
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from bbmirror.simulator.cloud.world import (
    ISSUE_KINDS,
    ISSUE_PRIORITIES,
    ISSUE_STATES,
    Activity,
    Attachment,
    Comment,
    Commit,
    CommitStatus,
    Issue,
    IssueChange,
    Membership,
    Named,
    Participant,
    Project,
    PullRequest,
    Repository,
    Tag,
    User,
    Workspace,
    World,
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

# ---------------------------------------------------------------------------------------------
# Time: integers of microseconds since the epoch inside, ISO strings in the world.

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(stamp: str) -> int:
    """Microseconds since the epoch of an ISO-8601 timestamp with an offset."""
    return (datetime.fromisoformat(stamp) - EPOCH) // timedelta(microseconds=1)


def iso(us: int) -> str:
    """The API's usual form: UTC, microseconds, ``+00:00``."""
    return (EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds")


END_US = to_us(World().clock)
START_US = END_US - 540 * DAY
LAST_US = END_US - HOUR  # generated history stops an hour before the clock

# Author offsets in minutes (a few odd ones on purpose: +05:30, +05:45, -03:30).
OFFSETS = (0, 60, 120, 180, 330, 345, 480, 540, 600, -180, -210, -240, -300, -420, -480)
_ZONES = {m: timezone(timedelta(minutes=m)) for m in OFFSETS}


def offset_for(key: str) -> int:
    """A stable UTC offset (minutes) for an author, so their commits share one time zone."""
    return OFFSETS[zlib.crc32(key.encode()) % len(OFFSETS)]


def commit_date(us: int, offset: int) -> str:
    """A commit or tag date: the author's offset, whole seconds, e.g. ``...T10:12:55+02:00``."""
    moment = EPOCH + timedelta(microseconds=us - us % US)
    return moment.astimezone(_ZONES[offset]).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# Identifiers


def new_uuid(rng: random.Random) -> str:
    """A braced v4 uuid drawn from the rng (never uuid4(), which is not reproducible)."""
    return "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)) + "}"


def commit_hash(*parts: str) -> str:
    """A 40-hex commit id: the sha1 of the commit's content."""
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def author_raw(user: User) -> str:
    """The git author line of a Bitbucket user."""
    return f"{user.display_name} <{user.nickname}@example.com>"


UNKNOWN_AUTHORS = (
    "Jenkins <jenkins@ci.example.org>",
    "dependabot[bot] <support@dependabot.com>",
    "Former Contractor <dev@oldvendor.example>",
    "Renée Dupont <renee@laptop.local>",
)

# ---------------------------------------------------------------------------------------------
# Text: pre-built pools and rng.choice keep generation cheap.


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Alice Bob Carol Dmitri Émilie Søren José Łukasz Ingrid Kwame Priya Hiro Mateo Aoife Björn "
    "Chloé Nikolai Fatima Ravi Yuki Olu Siobhan François Ana Jürgen Mei Tomás Grace Ahmed Lena "
    "Noah Sofia Ikaika Marta Pål Zeynep Omar Ewa Kenji Ada"
)
LAST_NAMES = _words(
    "Smith Ångström Müller Núñez Kowalski O'Brien Nakamura Okafor Patel Rossi Dubois Ivanova "
    "Johansson García Çelik Nguyễn Brontë Lindqvist Schäfer Moreau Hernández Kim Novák Ferreira "
    "Walsh Haddad Jensen Kaur Tanaka"
)
WHOLE_NAMES = (
    "李雷",
    "韩梅梅",
    "Αλέξης Παπαδόπουλος",
    "Ольга Иванова",
    "محمد علي",
    "佐藤 花子",
)
FORCED_NAMES = ("Zoë Ångström", "李雷")

VERBS = _words(
    "Fix Add Remove Refactor Update Improve Handle Support Document Test Bump Revert Rename "
    "Simplify Cache"
)
OBJECTS = (
    "pagination in the issues list",
    "retry logic for 5xx responses",
    "the webhook signature check",
    "timezone handling in reports",
    "the login redirect loop",
    "flaky integration tests",
    "the Dockerfile base image",
    "unicode in branch names",
    "rate limit headers",
    "the search index rebuild",
    "null assignees in exports",
    "CSV export of pull requests",
    "the settings page layout",
    "dependency versions",
    "error messages for bad tokens",
    "memory use of the sync worker",
    "the release checklist",
    "slow queries on the dashboard",
    "broken links in the README",
    "OAuth token refresh",
    "the migration for comment ids",
    "keyboard shortcuts",
    "dark mode colours",
    "the cron schedule parser",
    "attachment downloads",
    "the billing invoice template",
    "SSH key rotation",
    "the mobile navigation menu",
    "build caching in CI",
    "logging of request ids",
)
SENTENCES = (
    "This happens every time the page has more than one hundred items.",
    "Steps to reproduce are below.",
    "I think the root cause is the cursor being reset after a retry.",
    "The fix is small but needs a test.",
    "See the attached log for the full stack trace.",
    "It only fails on Mondays, which is suspicious.",
    "We should document the behaviour before changing it.",
    "The old behaviour was kept behind a feature flag.",
    "Performance is roughly twice as good on the benchmark.",
    "This was reported by a customer in the EU region.",
    "Can we backport this to the 1.x branch?",
    "I could not reproduce it locally.",
    "The API returns a 404 instead of an empty list.",
    "Thanks for the quick turnaround!",
    "LGTM once the comments are addressed.",
    "Please split this into two commits.",
    "Does this need a migration?",
    "The timestamps are off by one hour around DST changes.",
    "Naïve datetimes sneak in through the CSV importer.",
    "Ça marche chez moi, mais pas sur le serveur de CI.",
    "Der Fehler tritt nur mit Umlauten im Dateinamen auf: äöüß.",
    "日本語のタイトルでも正しく表示されるべきです。",
    "Ship it 🚀",
    "Edge case: an empty description should render as nothing, not `None`.",
)
PATHS = (
    "src/app.py",
    "src/api/client.py",
    "src/api/pagination.py",
    "README.md",
    "docs/intro.md",
    "web/src/App.tsx",
    "web/src/components/Table.tsx",
    "Makefile",
    "tests/test_sync.py",
    "src/ünïcode/naïve.py",
)
CODE = (
    "```python\nfor page in pages(client, url):\n    rows.extend(page['values'])\n```",
    "```\nTraceback (most recent call last):\n  File \"app.py\", line 12\nKeyError: 'next'\n```",
    "```js\nconst next = body.next ?? null;\n```",
)
REASONS = (
    "Superseded by a smaller change.",
    "Not something we want to support.",
    "Stale: no activity for months.",
    "Wrong target branch.",
    "",
)
LANGUAGES = ("python", "javascript", "typescript", "go", "java", "kotlin", "rust", "ruby", "")
REPO_SLUGS = _words(
    "api-gateway web-frontend billing-service infra-terraform mobile-app data-pipeline "
    "auth-service docs-site design-system notification-worker search-indexer cli-tools "
    "payments-core analytics-etl admin-console edge-proxy"
)
WORKSPACES = (
    ("acme", "Acme Corporation"),
    ("globex-labs", "Globex Labs"),
    ("initech", "Initech"),
    ("umbrella-dev", "Umbrella Développement"),
    ("stark-eng", "Stark Engineering"),
    ("wayne-ops", "Wayne Ops"),
)
PROJECTS = (
    ("API", "Public API"),
    ("WEB", "Web"),
    ("OPS", "Operations"),
    ("DATA", "Data platform"),
    ("MOB", "Mobile"),
)
COMPONENTS = ("backend", "frontend", "docs", "api", "ui/ux", "infrastructure")
ATTACHMENT_NAMES = (
    "screenshot.png",
    "server.log",
    "trace.txt",
    "crash.dmp",
    "données.csv",
    "config.yaml",
)
STATUS_KEYS = ("jenkins-build", "pipelines", "sonar-quality", "e2e-tests")


def title(rng: random.Random) -> str:
    """A commit-summary-like title."""
    text = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    if rng.random() < 0.04:
        text += " — " + rng.choice(("naïve café", "日本語", "Grüße", "🚀"))
    return text


def markdown(rng: random.Random, paragraphs: int = 2) -> str:
    """A markdown body: sentences, sometimes a list, a code block or a link."""
    parts = []
    for _ in range(max(1, paragraphs)):
        parts.append(" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 4))))
        roll = rng.random()
        if roll < 0.2:
            parts.append("\n".join(f"* {rng.choice(OBJECTS)}" for _ in range(rng.randint(2, 4))))
        elif roll < 0.3:
            parts.append(rng.choice(CODE))
        elif roll < 0.35:
            parts.append(f"See [the docs](https://example.com/docs/{rng.randint(1, 99)}).")
    return "\n\n".join(parts)


def short_markdown(rng: random.Random) -> str:
    """A one- or two-sentence comment."""
    if rng.random() < 0.1:
        return markdown(rng, rng.randint(1, 3))
    return " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 2)))


def long_markdown(rng: random.Random, min_chars: int = 20_500) -> str:
    """A body over 20 KB, for the odd huge issue or comment."""
    sections = []
    size = 0
    while size < min_chars:
        section = f"## {title(rng)}\n\n{markdown(rng, 3)}"
        sections.append(section)
        size += len(section) + 2
    return "\n\n".join(sections)


def commit_message(rng: random.Random) -> str:
    """A commit message: mostly one line, sometimes a body with bullets."""
    head = title(rng)
    roll = rng.random()
    if roll < 0.35:
        body = "\n".join(f"- {rng.choice(OBJECTS)}" for _ in range(rng.randint(1, 4)))
        return f"{head}\n\n{body}"
    if roll < 0.37:
        return f"{head}\n\n{rng.choice(SENTENCES)}"
    return head


def long_commit_message(rng: random.Random) -> str:
    """A very long commit message (an import commit listing everything it brought in)."""
    lines = [f"- {title(rng)} ({i})" for i in range(120)]
    return "Initial import of the legacy code base\n\n" + "\n".join(lines)


def nickname_base(display_name: str) -> str:
    """An ASCII nickname stem from a display name ("Zoë Ångström" -> "zoe")."""
    folded = unicodedata.normalize("NFKD", display_name).encode("ascii", "ignore").decode()
    letters = "".join(ch for ch in folded.split(" ")[0].lower() if ch.isalnum())
    return letters or "user"


def member_uuids(world: World, repo: Repository) -> list[str]:
    """Uuids of the members of the repository's workspace (the people who act on it)."""
    workspace = world.workspaces.get(repo.workspace)
    members = [m.user_uuid for m in workspace.members] if workspace else []
    return members or list(world.users)


def allocate(rng: random.Random, total: int, weights: list[float], minimum: int = 0) -> list[int]:
    """Split ``total`` into integer shares proportional to ``weights``, each >= ``minimum``."""
    n = len(weights)
    if n == 0:
        return []
    base = [minimum] * n
    rest = max(0, total - minimum * n)
    scale = sum(weights) or 1.0
    shares = [int(rest * w / scale) for w in weights]
    left = rest - sum(shares)
    for i in sorted(range(n), key=lambda i: -weights[i])[:left]:
        shares[i] += 1
    return [b + s for b, s in zip(base, shares, strict=True)]


def spread(rng: random.Random, total: int, n: int) -> list[int]:
    """Scatter ``total`` items over ``n`` owners with a heavy tail (most get few, some many)."""
    if n == 0 or total <= 0:
        return [0] * n
    weights = [rng.expovariate(1.0) ** 1.5 for _ in range(n)]
    counts = [0] * n
    for i in rng.choices(range(n), weights=weights, k=total):
        counts[i] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# The generator


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


class _Generator:
    """One generation run: the rng, the world being built and renumbering bookkeeping."""

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

    # -- people and places ------------------------------------------------------------------

    def users(self) -> list[User]:
        rng = self.rng
        seen: set[str] = set()
        users = []
        for i in range(self.size.users):
            if i < len(FORCED_NAMES):
                name = FORCED_NAMES[i]
            elif rng.random() < 0.1:
                name = rng.choice(WHOLE_NAMES)
            else:
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            nick = nickname_base(name)
            while nick in seen:
                nick = f"{nickname_base(name)}{rng.randint(2, 999)}"
            seen.add(nick)
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
        life = LAST_US - start
        merges = sum(1 for s in states if s == "MERGED")
        mean = max(1.0, (commit_budget * 0.85 - merges) / max(1, len(states)))
        plans = []
        for state in states:
            lo, hi = (0.7, 0.995) if state == "OPEN" else (0.02, 0.97)
            t_open = start + int(life * rng.uniform(lo, hi))
            t_close = None
            if state != "OPEN":
                duration = int(rng.lognormvariate(math.log(DAY), 1.3))
                t_close = t_open + max(5 * MINUTE, min(duration, int((LAST_US - t_open) * 0.95)))
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

    def pull_requests(
        self, repo: Repository, plans: list[_PrPlan], comment_counts: list[int]
    ) -> None:
        for plan, n_comments in zip(plans, comment_counts, strict=True):
            repo.pullrequests[plan.id] = self.pull_request(repo, plan, n_comments)
            # Unmerged PRs keep their branch; so do merges with close_source_branch=False.
            if plan.state != "MERGED" or plan.id % 3 == 0:
                repo.branches[plan.branch] = plan.commits[-1]

    def pull_request(self, repo: Repository, plan: _PrPlan, n_comments: int) -> PullRequest:
        rng = self.rng
        members = member_uuids(self.world, repo)
        description = markdown(rng, rng.randint(0, 3)) if rng.random() < 0.8 else ""
        if rng.random() < 0.003:
            description = long_markdown(rng)
        pr = PullRequest(
            id=plan.id,
            title=plan.titles[-1],
            description=description,
            state=plan.state,
            author_uuid=plan.author,
            source_branch=plan.branch,
            source_commit=plan.commits[-1],
            destination_branch=repo.mainbranch,
            destination_commit="",
            created_on=iso(plan.t_open),
            updated_on=iso(plan.t_open),
            merge_commit=plan.merge,
            closed_by_uuid=None,
            reason="",
            close_source_branch=plan.state == "MERGED" and plan.id % 3 != 0,
            task_count=rng.choice((0, 0, 0, 0, 1, 2)),
            reviewer_uuids=list(plan.reviewers),
            commit_hashes=list(reversed(plan.commits)),
            draft=plan.state == "OPEN" and plan.id % 5 == 0,  # no draw: seeds keep their worlds
        )
        if plan.state == "MERGED":
            pr.closed_by_uuid = plan.closed_by
        elif plan.state == "DECLINED":
            pr.closed_by_uuid = self.closer(plan)
            pr.reason = rng.choice(REASONS)

        def snapshot(state: str, title_: str, src: str, dest: str) -> dict:
            return {
                "state": state,
                "title": title_,
                "description": description,
                "reason": pr.reason if state == "DECLINED" else "",
                "source_commit": src,
                "destination_commit": dest,
                "source_branch": plan.branch,
                "destination_branch": repo.mainbranch,
            }

        middle: list[Activity] = []
        title_index, dest = 0, plan.open_dest
        for t, kind, src, snap_dest in plan.snaps:
            title_index += kind == "edit"
            dest = snap_dest
            data = snapshot("OPEN", plan.titles[title_index], src, dest)
            middle.append(Activity("update", iso(t), plan.author, data=data))

        participants = {r: Participant(r, "REVIEWER") for r in plan.reviewers}
        last_seen: dict[str, int] = {}
        pr.comments = self.comment_thread(
            n_comments, plan.t_open, plan.t_end, [plan.author, *plan.reviewers], members, True
        )
        for c in pr.comments:
            middle.append(Activity("comment", c.created_on, c.user_uuid, comment_id=c.id))
            if c.user_uuid != plan.author:
                participants.setdefault(c.user_uuid, Participant(c.user_uuid, "PARTICIPANT"))
                last_seen[c.user_uuid] = to_us(c.created_on)
        voters = list(plan.reviewers)
        if rng.random() < 0.1:
            voters.append(rng.choice(members))
        approve_p = 0.8 if plan.state == "MERGED" else 0.3
        for voter in dict.fromkeys(voters):
            if voter == plan.author:
                continue
            part = participants.setdefault(voter, Participant(voter, "PARTICIPANT"))
            t = rng.randint(plan.t_open + 1, plan.t_end - 1)
            if rng.random() < 0.15:
                middle.append(Activity("changes_requested", iso(t), voter))
                part.state = "changes_requested"
                last_seen[voter] = max(last_seen.get(voter, 0), t)
                t = rng.randint(t, plan.t_end - 1)
            if rng.random() < approve_p:
                middle.append(Activity("approval", iso(t), voter))
                part.approved, part.state = True, "approved"
                part.participated_on = iso(t)
        for uuid_, part in participants.items():
            if not part.approved and uuid_ in last_seen:
                part.participated_on = iso(last_seen[uuid_])
        pr.participants = list(participants.values())

        middle.sort(key=lambda a: a.date)
        first = Activity(
            "update",
            pr.created_on,
            plan.author,
            data=snapshot("OPEN", plan.titles[0], plan.open_src, plan.open_dest),
        )
        pr.activity = [first, *middle]
        if plan.t_close is not None:
            pr.destination_commit = plan.close_dest
            closer = pr.closed_by_uuid or plan.author
            data = snapshot(plan.state, pr.title, pr.source_commit, plan.close_dest)
            pr.activity.append(Activity("update", iso(plan.t_close), closer, data=data))
        else:
            pr.destination_commit = dest
        pr.updated_on = max(
            [pr.created_on]
            + [a.date for a in pr.activity if bumps_pr(self.world, a.kind)]
            + ([c.updated_on for c in pr.comments] if self.world.settings.comment_bumps_pr else [])
        )
        self.pr_activity.extend(a for a in pr.activity if a.kind == "comment")
        return pr

    # -- comments ---------------------------------------------------------------------------

    def comment_thread(
        self,
        n: int,
        t_from: int,
        t_to: int,
        regulars: list[str],
        members: list[str],
        inline: bool,
    ) -> list[Comment]:
        """``n`` comments in time order with replies, edits and soft-deleted parents."""
        rng = self.rng
        if n <= 0 or t_to - t_from < 4:
            return []
        times = sorted(rng.randint(t_from + 1, t_to - 2) for _ in range(n))
        thread: list[Comment] = []
        has_reply: set[int] = set()
        for i, t in enumerate(times):
            user = rng.choice(regulars) if rng.random() < 0.75 else rng.choice(members)
            self.temp_id += 1
            content = short_markdown(rng) if rng.random() > 0.002 else long_markdown(rng)
            c = Comment(self.temp_id, user, content, iso(t), iso(t))
            if i and rng.random() < 0.25:
                parent = thread[rng.randrange(i)]
                c.parent_id = parent.id
                c.inline = dict(parent.inline) if parent.inline else None
                has_reply.add(parent.id)
            elif inline and rng.random() < 0.35:
                line = rng.randint(1, 400)
                roll = rng.random()
                lines = (None, line) if roll < 0.5 else (line, None) if roll < 0.9 else (line, line)
                c.inline = {"path": rng.choice(PATHS), "from": lines[0], "to": lines[1]}
            if rng.random() < 0.1:
                c.updated_on = iso(rng.randint(t, t_to - 1))
            thread.append(c)
            self.comments.append((t, c.id, c))
        last_reply: dict[int, int] = {}
        for c in thread:
            if c.parent_id is not None:
                last_reply[c.parent_id] = to_us(c.created_on)
        for c in thread:
            if c.id in has_reply and (self.soft_deleted == 0 or rng.random() < 0.2):
                self.soft_deleted += 1
                c.deleted, c.content = True, ""
                gone = max(last_reply[c.id], to_us(c.updated_on)) + rng.randint(1, HOUR)
                c.updated_on = iso(min(gone, LAST_US))
        return thread

    # -- issues -----------------------------------------------------------------------------

    def issues(self, repo: Repository, n: int, comment_counts: list[int], long_at: int) -> None:
        rng = self.rng
        members = member_uuids(self.world, repo)
        start = to_us(repo.created_on) + HOUR
        created = sorted(rng.randint(start, LAST_US - HOUR) for _ in range(n))
        for number, (t0, n_comments) in enumerate(zip(created, comment_counts, strict=True), 1):
            content = long_markdown(rng) if number - 1 == long_at else markdown(rng, 2)
            issue = Issue(
                id=number,
                title=title(rng),
                reporter_uuid=rng.choice(members),
                assignee_uuid=rng.choice(members) if rng.random() < 0.3 else None,
                state="new" if rng.random() < 0.95 else "submitted",
                kind=rng.choices(ISSUE_KINDS, (50, 25, 10, 15))[0],
                priority=rng.choices(ISSUE_PRIORITIES, (10, 30, 40, 15, 5))[0],
                content=content,
                created_on=iso(t0),
                updated_on=iso(t0),
                milestone_id=self.pick(repo.milestones, 0.3),
                version_id=self.pick(repo.versions, 0.3),
                component_id=self.pick(repo.components, 0.4),
                votes=min(int(rng.expovariate(0.7)), 40),
            )
            issue.watcher_uuids = list(
                dict.fromkeys([issue.reporter_uuid, *rng.sample(members, rng.randint(0, 2))])
            )
            n_changes = min(int(rng.expovariate(0.5)), 8)
            for t in sorted(rng.randint(t0 + 1, LAST_US - 1) for _ in range(n_changes)):
                self.issue_change(repo, issue, t, members)
            regulars = [issue.reporter_uuid] + (
                [issue.assignee_uuid] if issue.assignee_uuid else []
            )
            issue.comments = self.comment_thread(
                n_comments, t0, LAST_US, regulars, members, inline=False
            )
            if rng.random() < 0.12:
                for _ in range(rng.randint(1, 3)):
                    name = rng.choice(ATTACHMENT_NAMES)
                    issue.attachments = [a for a in issue.attachments if a.name != name]
                    t = rng.randint(t0 + 1, LAST_US - 1)
                    body = rng.randbytes(rng.randint(16, 512))
                    issue.attachments.append(Attachment(name, body, iso(t)))
                issue.attachments.sort(key=lambda a: a.created_on)
            issue.updated_on = issue_updated_on(self.world, issue)
            repo.issues[number] = issue
        repo.last_issue_id = n

    def pick(self, named: dict[int, Named], p: float) -> int | None:
        if named and self.rng.random() < p:
            return self.rng.choice(list(named))
        return None

    def issue_change(self, repo: Repository, issue: Issue, t: int, members: list[str]) -> None:
        """One change-log record touching one to three fields, applied to the issue."""
        rng = self.rng
        fields = random_issue_fields(rng, repo, issue, members)
        changes = issue_changes(self.world, repo, issue, fields)
        if not changes:
            return
        apply_issue_fields(issue, fields)
        if "content" in changes:
            issue.edited_on = iso(t)
        user = rng.choice(
            [issue.reporter_uuid, issue.assignee_uuid or issue.reporter_uuid, *members]
        )
        self.temp_id += 1
        message = "" if rng.random() < 0.4 else short_markdown(rng)
        change = IssueChange(self.temp_id, user, iso(t), changes, message)
        issue.changes.append(change)
        self.changes.append((t, change.id, change))

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


# ---------------------------------------------------------------------------------------------
# Issue fields and change logs (shared with mutate.py)

ISSUE_FIELDS = (
    "title",
    "state",
    "kind",
    "priority",
    "assignee_uuid",
    "milestone_id",
    "version_id",
    "component_id",
    "content",
)
_ENUMS = {"state": ISSUE_STATES, "kind": ISSUE_KINDS, "priority": ISSUE_PRIORITIES}
_NEXT_STATES = {
    "new": (("open", 50), ("resolved", 20), ("closed", 10), ("invalid", 5), ("duplicate", 5)),
    "submitted": (("open", 60), ("new", 20), ("invalid", 20)),
    "open": (("resolved", 50), ("closed", 20), ("on hold", 10), ("wontfix", 10), ("new", 2)),
    "on hold": (("open", 70), ("wontfix", 20), ("closed", 10)),
}
_REOPEN = (("open", 60), ("closed", 30), ("new", 10))


def random_issue_fields(
    rng: random.Random, repo: Repository, issue: Issue, members: list[str]
) -> dict[str, object]:
    """One or two fields to change and their new values; state changes are the most common."""
    wanted = rng.choices(
        ("state", "assignee_uuid", "priority", "kind", "milestone_id", "version_id")
        + ("component_id", "title", "content"),
        (50, 15, 10, 5, 5, 5, 5, 3, 2),
        k=rng.randint(1, 2),
    )
    fields: dict[str, object] = {}
    for name in dict.fromkeys(wanted):
        value = random_issue_value(rng, repo, issue, name, members)
        if value is not ...:
            fields[name] = value
    return fields


def random_issue_value(
    rng: random.Random, repo: Repository, issue: Issue, name: str, members: list[str]
) -> object:
    """A plausible new value for an issue field, or ``...`` when there is nothing to change to."""
    if name == "state":
        options = _NEXT_STATES.get(issue.state, _REOPEN)
        values = [v for v, _ in options if v != issue.state]
        weights = [w for v, w in options if v != issue.state]
        return rng.choices(values, weights)[0]
    if name == "kind":
        return rng.choice([k for k in ISSUE_KINDS if k != issue.kind])
    if name == "priority":
        return rng.choice([p for p in ISSUE_PRIORITIES if p != issue.priority])
    if name == "assignee_uuid":
        options = [m for m in members if m != issue.assignee_uuid]
        if issue.assignee_uuid and rng.random() < 0.2:
            return None
        return rng.choice(options) if options else ...
    if name in ("milestone_id", "version_id", "component_id"):
        named = getattr(repo, name.replace("_id", "s"))
        current = getattr(issue, name)
        options = [i for i in named if i != current]
        if current is not None and (not options or rng.random() < 0.2):
            return None
        return rng.choice(options) if options else ...
    if name == "title":
        return title(rng)
    if name == "content":
        return markdown(rng, 2)
    raise ValueError(f"unknown issue field {name!r}")


def _named(repo: Repository, name: str, value: object) -> str:
    if value is None:
        return ""
    table = getattr(repo, name.replace("_id", "s"))
    return table[value].name


def issue_field_strings(world: World, repo: Repository, issue: Issue) -> dict[str, str]:
    """The issue's current values as change-log strings (cleared = ``""``)."""
    assignee = world.user(issue.assignee_uuid)
    return {
        "title": issue.title,
        "state": issue.state,
        "kind": issue.kind,
        "priority": issue.priority,
        "assignee": assignee.nickname if assignee else "",
        "assignee_account_id": assignee.account_id if assignee else "",
        "milestone": _named(repo, "milestone_id", issue.milestone_id),
        "version": _named(repo, "version_id", issue.version_id),
        "component": _named(repo, "component_id", issue.component_id),
        "content": issue.content,
    }


def issue_changes(
    world: World, repo: Repository, issue: Issue, fields: dict[str, object]
) -> dict[str, dict[str, str]]:
    """The ``changes`` object a change record gets for setting ``fields``: only what differs."""
    changes: dict[str, dict[str, str]] = {}
    old = issue_field_strings(world, repo, issue)
    for name, value in fields.items():
        if name not in ISSUE_FIELDS:
            raise ValueError(f"unknown issue field {name!r}")
        allowed = _ENUMS.get(name)
        if allowed is not None and value not in allowed:
            raise ValueError(f"{value!r} is not a valid {name}")
        if name in ("title", "content") and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        if getattr(issue, name) == value:
            continue
        if name == "assignee_uuid":
            user = world.user(value)  # type: ignore[arg-type]
            if value is not None and user is None:
                raise ValueError(f"unknown user {value!r}")
            changes["assignee"] = {"old": old["assignee"], "new": user.nickname if user else ""}
            changes["assignee_account_id"] = {
                "old": old["assignee_account_id"],
                "new": user.account_id if user else "",
            }
        elif name.endswith("_id"):
            table = getattr(repo, name.replace("_id", "s"))
            if value is not None and value not in table:
                raise ValueError(f"no {name[:-3]} {value!r} in {repo.full_name}")
            key = name[:-3]
            changes[key] = {"old": old[key], "new": _named(repo, name, value)}
        else:
            changes[name] = {"old": old[name], "new": str(value)}
    return changes


def apply_issue_fields(issue: Issue, fields: dict[str, object]) -> None:
    """Set the fields on the issue (after ``issue_changes`` validated them)."""
    for name, value in fields.items():
        setattr(issue, name, value)


def issue_updated_on(world: World, issue: Issue) -> str:
    """The issue's ``updated_on`` as the generator defines it: the latest bumping event."""
    settings = world.settings
    stamps = [issue.created_on, *(c.created_on for c in issue.changes)]
    if settings.comment_bumps_issue:
        stamps += [c.updated_on for c in issue.comments]
    if settings.attachment_bumps_issue:
        stamps += [a.created_on for a in issue.attachments]
    return max(stamps)


def bumps_pr(world: World, kind: str) -> bool:
    """Whether an activity entry of this kind moves the PR's ``updated_on`` under the settings."""
    if kind == "comment":
        return world.settings.comment_bumps_pr
    if kind in ("approval", "changes_requested"):
        return world.settings.approval_bumps_pr
    return True


def generate(seed: int = 0, size: str | Size = "small") -> World:
    """Build a world from a seed and a size name (tiny, small, medium, large) or a ``Size``."""
    chosen = SIZES[size] if isinstance(size, str) else size
    return _Generator(seed, chosen).run()
