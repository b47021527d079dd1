"""Settings from a TOML file, command-line flags and the environment, validated up front.

A config file holds one or more sources::

    [[source]]
    name = "acme"                       # how rows and the run log name this instance
    kind = "cloud"                      # cloud | server
    base_url = "https://api.bitbucket.org/2.0"
    workspaces = ["acme"]               # empty: every workspace the credential can see
    repos = ["acme/api"]                # optional explicit list (WORKSPACE/SLUG)
    include = ["acme/*"]                # fnmatch patterns on full_name
    exclude = ["acme/archive-*"]
    credentials = "ACME"                # env prefix: ACME_TOKEN, or ACME_EMAIL + ACME_API_TOKEN
                                        # (a pool: ACME_TOKEN_1, ACME_TOKEN_2, ... as well, or a
                                        # list of prefixes, credentials = ["ACME", "ACME_BOT"])
    budget = 1000                       # requests per hour for each credential
    concurrency = 4
    every = "15m"                       # scheduler interval (at least 30s)
    reconcile_every = 24                # runs between automatic reconciliations
    anonymous = false                   # true: read public data only, with no credential
    skip = ["pr_diffstat"]              # streams left out (and their children), like --skip

Secrets are read from the environment only, held in `Secret`, and never printed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bbmirror import skipping

CLOUD_BASE_URL = "https://api.bitbucket.org/2.0"
DEFAULT_PREFIX = "BITBUCKET"
MIN_EVERY = 30.0  # seconds: a shorter interval hammers Bitbucket and spends the budget


class ConfigError(ValueError):
    """A configuration problem, phrased as one line a user can act on."""


class Secret:
    """A credential value that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Credentials:
    """Bearer token, or Basic email + API token; `label` is safe to log."""

    token: Secret | None = None
    email: str | None = None
    api_token: Secret | None = None
    username: str | None = None  # Server: Basic user + password (kept in api_token)

    @property
    def label(self) -> str:
        if self.token:
            return "bearer token"
        if self.email or self.username:
            return f"basic auth for {self.email or self.username}"
        return "anonymous"

    def header(self) -> dict[str, str]:
        """The Authorization header, built only at request time."""
        import base64

        if self.token:
            return {"Authorization": f"Bearer {self.token.reveal()}"}
        if (self.email or self.username) and self.api_token:
            pair = f"{self.email or self.username}:{self.api_token.reveal()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def secrets(self) -> list[str]:
        """The raw secret values, so logs and errors can be scrubbed of them."""
        return [s.reveal() for s in (self.token, self.api_token) if s]


def credential_variables(prefix: str = DEFAULT_PREFIX, kind: str = "cloud") -> str:
    """The environment variables that hold a source's credential, as a user should set them."""
    if kind == "server":
        token = f"{prefix}_SERVER_TOKEN" if prefix == DEFAULT_PREFIX else f"{prefix}_TOKEN"
        return f"{token} (or {prefix}_USER + {prefix}_PASSWORD)"
    return f"{prefix}_TOKEN (or {prefix}_EMAIL + {prefix}_API_TOKEN)"


def check_base_url(url: str, what: str = "base URL") -> str:
    """An http(s) URL with a host and no embedded credential, or a one-line ConfigError."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a garbage port
    except ValueError:
        raise ConfigError(f"{what} is not a URL: give e.g. https://bitbucket.example.com") from None
    if parts.username is not None or parts.password is not None:
        # Never echo the URL: it holds a secret.
        raise ConfigError(
            f"{what} must not hold a user name or password: remove 'user:password@' and set "
            "the credential in the environment instead"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = url if len(url) <= 80 else url[:77] + "..."
        raise ConfigError(
            f"{what} {shown!r} is not an http(s) URL: give e.g. https://bitbucket.example.com"
        )
    return url.strip().rstrip("/")


def token_variable(prefix: str = DEFAULT_PREFIX, kind: str = "cloud") -> str:
    """The variable that holds a prefix's Bearer token."""
    if kind == "server" and prefix == DEFAULT_PREFIX:
        return f"{prefix}_SERVER_TOKEN"
    return f"{prefix}_TOKEN"


def pool_from_env(prefix: str = DEFAULT_PREFIX, kind: str = "cloud") -> list[Credentials]:
    """A prefix's credential, then the numbered tokens `{prefix}_TOKEN_1`, `_2`, ... (a pool)."""
    first = credentials_from_env(prefix, kind)
    found = [first] if first.header() else []
    variable, number = token_variable(prefix, kind), 1
    while value := os.environ.get(f"{variable}_{number}"):
        found.append(Credentials(token=Secret(value)))
        number += 1
    return found


def credentials_from_env(prefix: str = DEFAULT_PREFIX, kind: str = "cloud") -> Credentials:
    """Read `{prefix}_TOKEN` or `{prefix}_EMAIL` + `{prefix}_API_TOKEN` (Server: `_USER` +
    `_PASSWORD`, or `BITBUCKET_SERVER_TOKEN` for the default prefix)."""
    env = os.environ
    if kind == "server":
        token = env.get(f"{prefix}_SERVER_TOKEN" if prefix == DEFAULT_PREFIX else f"{prefix}_TOKEN")
        if token:
            return Credentials(token=Secret(token))
        user, password = env.get(f"{prefix}_USER"), env.get(f"{prefix}_PASSWORD")
        if user and password:
            return Credentials(username=user, api_token=Secret(password))
        return Credentials()
    token = env.get(f"{prefix}_TOKEN")
    if token:
        return Credentials(token=Secret(token))
    email, api_token = env.get(f"{prefix}_EMAIL"), env.get(f"{prefix}_API_TOKEN")
    if email and api_token:
        return Credentials(email=email, api_token=Secret(api_token))
    if email or api_token:
        missing = f"{prefix}_API_TOKEN" if email else f"{prefix}_EMAIL"
        raise ConfigError(f"{missing} is not set: Basic auth needs both an email and an API token")
    return Credentials()


@dataclass
class Source:
    """One Bitbucket instance to mirror."""

    name: str = "cloud"
    kind: str = "cloud"
    base_url: str = CLOUD_BASE_URL
    workspaces: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)  # Server project keys
    repos: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    credentials: Credentials = field(default_factory=Credentials)
    more_credentials: list[Credentials] = field(default_factory=list)  # the rest of a pool
    budget: int = 1000  # requests per hour, per credential
    concurrency: int = 4
    every: float = 900.0  # seconds
    reconcile_every: int = 24
    settings_every: float = 86400.0  # seconds between reads of the small settings lists
    anonymous: bool = False  # asked explicitly to read without a credential
    credential_prefix: str = DEFAULT_PREFIX  # where the credential comes from, for messages
    skip: list[str] = field(default_factory=list)  # streams left out (skipping.py)

    def credential_variables(self) -> str:
        """Which environment variables to set for this source."""
        return credential_variables(self.credential_prefix, self.kind)

    def pool(self) -> list[Credentials]:
        """Every credential of the source, the first one first."""
        return [self.credentials, *self.more_credentials]

    def wants(self, full_name: str) -> bool:
        """Whether a repository (WORKSPACE/SLUG) passes the repos/include/exclude filters."""
        lowered = full_name.lower()
        if self.repos and lowered not in {r.lower() for r in self.repos}:
            return False
        if self.include and not any(fnmatch.fnmatch(lowered, p.lower()) for p in self.include):
            return False
        return not any(fnmatch.fnmatch(lowered, p.lower()) for p in self.exclude)


_PREFIX = r"[A-Za-z_][A-Za-z0-9_]*"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str | int | float) -> float:
    """'90s', '15m', '2h', '1d' or a number of seconds → seconds."""
    if isinstance(text, bool):
        raise ConfigError(f"cannot read duration {text!r}: use e.g. 30s, 15m, 2h or 1d")
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"cannot read duration {text!r}: use e.g. 30s, 15m, 2h or 1d")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * scale


_KNOWN_KEYS = {
    *("name", "kind", "base_url", "workspaces", "projects", "repos", "include", "exclude"),
    *("credentials", "budget", "concurrency", "every", "reconcile_every", "settings_every"),
    *("anonymous", "skip"),
}


def parse_every(text: str | int | float) -> float:
    """A scheduler interval: at least ``MIN_EVERY`` seconds.

    ``BBMIRROR_MIN_EVERY`` (seconds, at least 1) lowers the floor for tests and simulators.
    """
    seconds = parse_duration(text)
    try:
        floor = max(1.0, float(os.environ.get("BBMIRROR_MIN_EVERY", MIN_EVERY)))
    except ValueError:
        floor = MIN_EVERY
    if seconds < floor:
        raise ConfigError(f"interval {text!r} is too short: the minimum is {floor:g}s")
    return seconds


def load_config(path: str | Path) -> list[Source]:
    """Read and validate a TOML config file into sources."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    entries = data.get("source")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"config file {path} has no [[source]] table: add at least one")
    sources = [_source(entry, index, path) for index, entry in enumerate(entries, 1)]
    names = [s.name for s in sources]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        name = sorted(duplicates)[0]
        raise ConfigError(f"config file {path}: source name {name!r} is used twice")
    return sources


def _source(entry: object, index: int, path: Path) -> Source:
    where = f"config file {path}, source #{index}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(entry) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    kind = entry.get("kind", "cloud")
    if kind not in ("cloud", "server"):
        raise ConfigError(f"{where}: kind must be 'cloud' or 'server', not {kind!r}")
    if kind == "server" and "base_url" not in entry:
        raise ConfigError(f"{where}: a server source needs base_url")
    for key in ("workspaces", "projects", "repos", "include", "exclude", "skip"):
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings")
    for key in ("budget", "concurrency", "reconcile_every"):
        value = entry.get(key)
        if key in entry and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{where}: {key} must be a positive whole number")
    anonymous = entry.get("anonymous", False)
    if not isinstance(anonymous, bool):
        raise ConfigError(f"{where}: anonymous must be true or false")
    prefixes = entry.get("credentials", DEFAULT_PREFIX)
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    if (
        not isinstance(prefixes, list)
        or not prefixes
        or not all(isinstance(p, str) and re.fullmatch(_PREFIX, p) for p in prefixes)
    ):
        raise ConfigError(
            f"{where}: credentials must name an environment prefix like ACME "
            '(or a list of them, ["ACME", "ACME_BOT"])'
        )
    prefix = prefixes[0]
    try:
        pool = [] if anonymous else [c for p in prefixes for c in pool_from_env(p, kind)]
        every = parse_every(entry.get("every", "15m"))
        settings_every = parse_duration(entry.get("settings_every", "24h"))
        base_url = entry.get("base_url", CLOUD_BASE_URL)
        if not isinstance(base_url, str):
            raise ConfigError("base_url must be a string")
        base_url = check_base_url(base_url, "base_url")
        skipping.check(kind, entry.get("skip", []), "skip")
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Source(
        name=str(entry.get("name", f"source{index}")),
        kind=kind,
        base_url=base_url,
        workspaces=list(entry.get("workspaces", [])),
        projects=list(entry.get("projects", [])),
        repos=list(entry.get("repos", [])),
        include=list(entry.get("include", [])),
        exclude=list(entry.get("exclude", [])),
        credentials=pool[0] if pool else Credentials(),
        more_credentials=pool[1:],
        budget=entry.get("budget", 1000),
        concurrency=entry.get("concurrency", 4),
        every=every,
        reconcile_every=entry.get("reconcile_every", 24),
        settings_every=settings_every,
        anonymous=anonymous,
        credential_prefix=prefix,
        skip=list(entry.get("skip", [])),
    )


def flag_source(
    *,
    base_url: str | None = None,
    workspaces: tuple[str, ...] = (),
    server_url: str | None = None,
    projects: tuple[str, ...] = (),
    budget: int | None = None,
    concurrency: int | None = None,
    anonymous: bool = False,
) -> Source:
    """The single source described by command-line flags and the environment."""
    if server_url and (base_url or workspaces):
        raise ConfigError("--server-url (Data Center) and --base-url/--workspace (Cloud) don't mix")
    if projects and not server_url:
        raise ConfigError("--project needs --server-url (projects are a Data Center notion)")
    for name, value in (("--budget", budget), ("--concurrency", concurrency)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be a positive whole number")
    kind = "server" if server_url else "cloud"
    flag = "--server-url" if server_url else "--base-url"
    url = check_base_url(server_url or base_url or CLOUD_BASE_URL, flag)
    pool = [] if anonymous else pool_from_env(DEFAULT_PREFIX, kind)
    return Source(
        name=kind,
        kind=kind,
        base_url=url,
        workspaces=list(workspaces),
        projects=list(projects),
        credentials=pool[0] if pool else Credentials(),
        more_credentials=pool[1:],
        budget=budget or 1000,
        concurrency=concurrency or 4,
        anonymous=anonymous,
    )


def require_credentials(sources: list[Source]) -> None:
    """Refuse to read anonymously unless asked: a missing credential is a mistake, not a choice.

    Anonymous reading sees public data only; taken for a full view, it would look as if every
    private repository had vanished.
    """
    for source in sources:
        if source.anonymous or source.credentials.header():
            continue
        raise ConfigError(
            f"no credentials for {source.name}: set {source.credential_variables()}, or pass "
            "--anonymous (config: anonymous = true) to read public data only"
        )
