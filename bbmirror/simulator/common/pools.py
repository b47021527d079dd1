"""Text pools, identifiers and random splits shared by both simulators' generators.

Pre-built pools and ``rng.choice`` keep generation cheap; everything draws from the caller's
``random.Random``, so the same seed gives the same text.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import uuid


def new_uuid(rng: random.Random) -> str:
    """A braced v4 uuid drawn from the rng (never uuid4(), which is not reproducible)."""
    return "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)) + "}"


def commit_hash(*parts: str) -> str:
    """A 40-hex commit id: the sha1 of the commit's content."""
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


UNKNOWN_AUTHORS = (
    "Jenkins <jenkins@ci.example.org>",
    "dependabot[bot] <support@dependabot.com>",
    "Former Contractor <dev@oldvendor.example>",
    "Renée Dupont <renee@laptop.local>",
)


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


def person(rng: random.Random, index: int, seen: set[str]) -> tuple[str, str]:
    """The ``index``-th generated person: a display name (the first ones forced non-ASCII) and
    a nickname nobody in ``seen`` has yet (added to it)."""
    if index < len(FORCED_NAMES):
        display = FORCED_NAMES[index]
    elif rng.random() < 0.1:
        display = rng.choice(WHOLE_NAMES)
    else:
        display = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    nick = nickname_base(display)
    while nick in seen:
        nick = f"{nickname_base(display)}{rng.randint(2, 999)}"
    seen.add(nick)
    return display, nick


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


def voters(rng: random.Random, reviewers: list, members: list, author: object) -> list:
    """Who reviews a generated PR: its reviewers, sometimes one more member, never the author."""
    chosen = list(reviewers)
    if rng.random() < 0.1:
        chosen.append(rng.choice(members))
    return [v for v in dict.fromkeys(chosen) if v != author]
