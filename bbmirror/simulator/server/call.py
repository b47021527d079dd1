"""One Data Center API request: config, token buckets, errors, the app, and the Call helper."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bbmirror.simulator.common.app import SimulatorBase, Viewer
from bbmirror.simulator.common.faults import Faults
from bbmirror.simulator.common.responses import JSONResponse
from bbmirror.simulator.server import render
from bbmirror.simulator.server.world import (
    DcProject,
    DcPullRequest,
    DcRepository,
    DcWorld,
    commit_log,
    jira_keys,
)

API = ("/rest/api/1.0", "/rest/api/latest")


JIRA = ("/rest/jira/1.0", "/rest/jira/latest")


BUILDS = ("/rest/build-status/1.0", "/rest/build-status/latest")


IN_PROCESS_ROOT = "http://bitbucket-server.test"


DEFAULT_LIMIT = 25


JIRA_COMMIT_CAP = 100  # "the number of commits checked for issues is limited to … 100" [J]


EXC = "com.atlassian.bitbucket."


Doc = dict[str, Any]


@dataclass
class DcFaults(Faults):
    """``Faults`` plus Server's token bucket (§1.5): ``capacity`` burst, ``fill_rate`` per second.

    With ``capacity`` set, each credential label has its own bucket and an empty bucket answers
    429 with ``Retry-After`` (seconds until one token is back). ``capacity=None`` falls back to
    the Cloud rolling window (``rate_limit``).
    """

    capacity: int | None = None
    fill_rate: float = 5.0
    retry_after: bool = True
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    def admit(self, credential: str) -> float | None:
        if self.capacity is None:
            return super().admit(credential)
        now = self.clock()
        tokens, last = self.buckets.get(credential, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + max(0.0, now - last) * self.fill_rate)
        if tokens >= 1:
            self.buckets[credential] = (tokens - 1, now)
            return None
        self.buckets[credential] = (tokens, now)
        return (1 - tokens) / self.fill_rate if self.fill_rate > 0 else self.window

    def reset(self) -> None:
        super().reset()
        self.buckets.clear()


@dataclass
class DcConfig:
    """How the Server simulator presents itself: root URL, credentials, limits, faults."""

    base_url: str | None = None  # root URL incl. any context path; None: from the Host header
    tokens: dict[str, str] = field(default_factory=dict)  # Bearer token -> user slug
    basic: dict[tuple[str, str], str] = field(default_factory=dict)  # (user, password) -> slug
    allow_anonymous: bool = True  # anonymous callers see public projects and repositories only
    faults: Faults = field(default_factory=DcFaults)
    max_limit: int = 1000  # the per-resource hard limit on ``limit`` (admin-configurable)
    max_limits: dict[str, int] = field(default_factory=dict)  # per resource, e.g. "activities"
    deny: tuple[str, ...] = ()  # regexes on the path: 401 for everyone (missing permission)
    # Token or username -> the projects / repositories ("PROJ", "PROJ/slug") an HTTP access
    # token is tied to (server/scopes.py); absent: the user's own permissions
    access: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Commit ids one ``POST build-status/1.0/commits/stats`` takes: the documentation names no
    # cap, so the simulator keeps a conservative one (docs/simulator.md); more is a 400.
    max_stats_commits: int = 100


class ApiError(Exception):
    """An error answered with Server's error body."""

    def __init__(
        self, status: int, message: str, context: str | None = None, exc: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.context, self.exc = status, message, context, exc


def error_response(status: int, message: str, context: str | None = None, exc: str | None = None):
    return JSONResponse(render.error(message, context, exc), status_code=status)


def _server_body(body: bytes) -> bytes:
    """A Cloud-shaped fault body (from ``FaultMiddleware``) in Server's shape."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if isinstance(doc, dict) and doc.get("type") == "error":
        return json.dumps(render.error(doc.get("error", {}).get("message", "Error"))).encode()
    return body


class DcApp(SimulatorBase):
    """The common layers, dated by the world's millisecond clock, with Server-shaped faults."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.state.world.clock / 1000, UTC)

    def reshape(self, send: Callable) -> Callable:
        pending: dict[str, Any] = {}

        async def reshaping_send(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 429:
                pending["start"] = message  # hold it until the body is known
                return
            if message["type"] == "http.response.body" and "start" in pending:
                start = pending.pop("start")
                body = _server_body(message.get("body", b""))
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                message = {**message, "body": body}
            await send(message)

        return reshaping_send


class Call:
    """One request: parameters, the viewer, lookups that 404 like Server, and paging."""

    def __init__(self, request: Request, viewer: Viewer) -> None:
        self.request = request
        self.viewer = viewer
        self.body = b""  # a POST's body, read by the endpoint before the world lock
        self.state = request.app.state
        self.world: DcWorld = self.state.world
        self.config: DcConfig = self.state.config
        self.params = request.path_params
        self.query = request.query_params
        self.base = self.state.root or f"{request.url.scheme}://{request.headers.get('host')}"

    # parameters

    def arg(self, name: str) -> str | None:
        value = self.query.get(name)
        return value if value not in (None, "") else None

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.arg(name)
        return default if raw is None else raw.lower() == "true"

    def integer(self, name: str, default: int, minimum: int) -> int:
        raw = self.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise ApiError(400, f"{name} must be an integer of at least {minimum}.", name)
        return value

    def choice(self, name: str, default: str, allowed: Sequence[str]) -> str:
        value = (self.arg(name) or default).upper()
        if value not in allowed:
            options = ", ".join(allowed)
            raise ApiError(400, f"{name} must be one of {options}, not '{value}'.", name)
        return value

    # visibility and lookups

    def visible_project(self, p: DcProject) -> bool:
        return self.viewer.uuid is not None or p.public

    def visible(self, r: DcRepository) -> bool:
        return self.viewer.uuid is not None or r.public

    def project(self) -> DcProject:
        key = self.params["key"]
        found = self.world.project_by_key(key)
        if found is None:
            raise ApiError(
                404, f"Project {key} does not exist.", exc=EXC + "project.NoSuchProjectException"
            )
        if not self.visible_project(found):
            raise _denied()
        return found

    def repo(self) -> DcRepository:
        key, slug = self.params["key"], self.params["slug"]
        found = self.world.repo(key, slug)
        if found is None:
            self.project()
            raise ApiError(
                404,
                f"Repository {key}/{slug} does not exist.",
                exc=EXC + "repository.NoSuchRepositoryException",
            )
        if not self.visible(found):
            raise _denied()
        return found

    def pr(self) -> tuple[DcRepository, DcPullRequest]:
        repo = self.repo()
        found = repo.pull_requests.get(self.params["pid"])
        if found is None:
            message = f"Pull request {self.params['pid']} does not exist in {repo.slug}."
            raise ApiError(404, message, exc=EXC + "pull.NoSuchPullRequestException")
        return repo, found

    def resolve(self, repo: DcRepository, ref: str, name: str, refs: bool = True) -> str:
        """A commit id (or unique prefix ≥ 4) or, when ``refs``, a branch or tag → full id."""
        if refs:
            for prefix, table in (("refs/heads/", repo.branches), ("refs/tags/", repo.tags)):
                short = ref[len(prefix) :] if ref.startswith(prefix) else ref
                if short in table:
                    value = table[short]
                    return value if isinstance(value, str) else value.target
        if ref in repo.commits:
            return ref
        if len(ref) >= 4 and re.fullmatch(r"[0-9a-f]+", ref):
            matches = [c for c in repo.commits if c.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        message = f"Commit '{ref}' does not exist in repository '{repo.slug}'."
        raise ApiError(404, message, name, EXC + "commit.NoSuchCommitException")

    # answers

    def page(
        self, items: Sequence[Any], make: Callable[[Any], Doc], resource: str, **extra: Any
    ) -> Response:
        """Server paging (§1.2): ``start``/``limit`` in; size, limit, isLastPage, nextPageStart."""
        start = self.integer("start", 0, 0)
        cap = self.config.max_limits.get(resource, self.config.max_limit)
        limit = min(self.integer("limit", DEFAULT_LIMIT, 1), cap)
        step = 2 if self.world.settings.sparse_paging else 1
        first = math.ceil(start / step)
        chosen = items[first : first + limit]
        doc: Doc = {"size": len(chosen), "limit": limit}
        last = first + len(chosen) >= len(items)
        doc["isLastPage"] = last
        doc["values"] = [make(item) for item in chosen]
        doc["start"] = start
        doc["filter"] = None
        if not last:
            doc["nextPageStart"] = (first + len(chosen)) * step
        doc.update(extra)
        return JSONResponse(doc)


LOG_CACHE = 256


def _log(cache: dict, repo: DcRepository, until: str, since: str | None) -> list[str]:
    """``commit_log`` memoised: commits are immutable, so a range's log never changes."""
    key = (repo.id, until, since, len(repo.commits))
    if key not in cache:
        if len(cache) >= LOG_CACHE:
            cache.clear()
        cache[key] = commit_log(repo, until, since)
    return cache[key]


def _jira_index(state: Any, world: DcWorld) -> dict[str, list[tuple[int, str]]]:
    """Issue key → (repo id, commit) newest first, rebuilt when any repository's commits grow."""
    signature = tuple((r.id, len(r.commits)) for r in world.repositories.values())
    if state.jira is None or state.jira[0] != signature:
        found: dict[str, list[tuple[int, int, str]]] = {}
        for repo in world.repositories.values():
            for sha, commit in repo.commits.items():
                for key in jira_keys(commit.message):
                    found.setdefault(key, []).append((-commit.committer_ts, repo.id, sha))
        index = {k: [(rid, sha) for _, rid, sha in sorted(v)] for k, v in found.items()}
        state.jira = (signature, index)
    return state.jira[1]


def _denied() -> ApiError:
    return ApiError(
        401, "You are not permitted to access this resource", exc=EXC + "AuthorisationException"
    )
