"""The Bitbucket Server / Data Center REST API over a simulated ``DcWorld``: a Starlette app.

Core API under ``/rest/api/1.0`` (alias ``latest``), Jira integration under ``/rest/jira/1.0``,
build statuses under ``/rest/build-status/1.0``, all behind an optional context path taken from
``DcConfig.base_url``. Paging, errors, auth and rate limits follow bitbucket-server.md §1 and §5.
Every handler runs under ``app.state.lock`` so another thread can mutate the world in between.
The request log and fault layers are the Cloud simulator's (``cloud_api``, ``faults``); fault
answers are rewritten into Server's ``{"errors": [...]}`` body. Choices where the reference is
silent are listed in docs/simulator.md, "Bitbucket Server / Data Center".
"""

from __future__ import annotations

import json
import math
import re
import shlex
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bbmirror.simulator.common.app import VIEWER_KEY, SimulatorBase, Viewer, authenticate
from bbmirror.simulator.common.faults import Faults
from bbmirror.simulator.common.responses import JSONResponse
from bbmirror.simulator.common.scopes import dc_allowed
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.server import render
from bbmirror.simulator.server.world import (
    PR_STATES,
    DcParticipant,
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
    # token is tied to (simulator/scopes.py); absent: the user's own permissions
    access: dict[str, tuple[str, ...]] = field(default_factory=dict)


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


# --- one request -------------------------------------------------------------------------------


class Call:
    """One request: parameters, the viewer, lookups that 404 like Server, and paging."""

    def __init__(self, request: Request, viewer: Viewer) -> None:
        self.request = request
        self.viewer = viewer
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


# --- handlers: projects, repositories, users ---------------------------------------------------


def application_properties(c: Call) -> Response:
    return JSONResponse(
        {
            "version": "7.21.0",
            "buildNumber": "7021000",
            "buildDate": "1673000000000",
            "displayName": "Bitbucket",
        }
    )


def projects(c: Call) -> Response:
    name = (c.arg("name") or "").lower()
    found = [
        p
        for p in c.world.projects.values()
        if c.visible_project(p) and name in p.name.lower() and p.type == "NORMAL"
    ]
    return c.page(found, lambda p: render.project(c.world, p, c.base), "projects")


def get_project(c: Call) -> Response:
    return JSONResponse(render.project(c.world, c.project(), c.base))


def project_repos(c: Call) -> Response:
    project = c.project()
    found = [
        r for r in c.world.repositories.values() if r.project_id == project.id and c.visible(r)
    ]
    return c.page(found, lambda r: render.repository(c.world, r, c.base), "repos")


def all_repos(c: Call) -> Response:
    name = (c.arg("name") or "").strip().lower()
    project_name = (c.arg("projectname") or "").strip().lower()
    state = c.arg("state")
    visibility = (c.arg("visibility") or "").lower()
    if visibility not in ("", "public", "private"):
        raise ApiError(400, "visibility must be public or private.", "visibility")
    found = []
    for r in c.world.repositories.values():
        p = c.world.projects[r.project_id]
        if not c.visible(r) or name not in r.name.lower() or project_name not in p.name.lower():
            continue
        if (state and r.state != state) or (visibility and r.public != (visibility == "public")):
            continue
        found.append(r)
    return c.page(found, lambda r: render.repository(c.world, r, c.base), "repos")


def get_repo(c: Call) -> Response:
    return JSONResponse(render.repository(c.world, c.repo(), c.base))


def users(c: Call) -> Response:
    text = (c.arg("filter") or "").lower()
    found = [
        u
        for u in c.world.users.values()
        if not text or any(text in s.lower() for s in (u.name, u.display_name, u.email))
    ]
    return c.page(found, lambda u: render.user(u, c.base), "users")


def get_user(c: Call) -> Response:
    found = c.world.user_by_slug(c.params["user"])
    if found is None:
        message = f"User {c.params['user']} does not exist."
        raise ApiError(404, message, exc=EXC + "user.NoSuchUserException")
    return JSONResponse(render.user(found, c.base))


# --- handlers: refs and commits ----------------------------------------------------------------


def branches(c: Call) -> Response:
    repo = c.repo()
    order = c.choice("orderBy", "ALPHABETICAL", ("ALPHABETICAL", "MODIFICATION"))
    text = (c.arg("filterText") or "").lower()
    names = [n for n in repo.branches if text in n.lower()]
    if order == "MODIFICATION":
        names.sort(key=lambda n: (-repo.commits[repo.branches[n]].committer_ts, n))
    else:
        names.sort()
    return c.page(names, lambda n: render.branch(repo, n), "branches")


def default_branch(c: Call) -> Response:
    repo = c.repo()
    if repo.default_branch not in repo.branches:
        raise ApiError(
            404,
            "The default branch does not exist.",
            exc=EXC + "repository.NoDefaultBranchException",
        )
    return JSONResponse(render.minimal_ref(repo.default_branch))


def legacy_default_branch(c: Call) -> Response:
    repo = c.repo()
    if repo.default_branch not in repo.branches:
        return Response(status_code=204)
    return JSONResponse(render.branch(repo, repo.default_branch))


def tags(c: Call) -> Response:
    repo = c.repo()
    order = c.choice("orderBy", "ALPHABETICAL", ("ALPHABETICAL", "MODIFICATION"))
    text = (c.arg("filterText") or "").lower()
    found = [t for n, t in repo.tags.items() if text in n.lower()]
    if order == "MODIFICATION":
        found.sort(key=lambda t: (-repo.commits[t.target].committer_ts, t.name))
    else:
        found.sort(key=lambda t: t.name)
    return c.page(found, render.tag, "tags")


def get_tag(c: Call) -> Response:
    repo = c.repo()
    found = repo.tags.get(c.params["name"])
    if found is None:
        raise ApiError(
            404,
            f"Tag {c.params['name']} does not exist.",
            exc=EXC + "repository.NoSuchTagException",
        )
    return JSONResponse(render.tag(found))


def commits(c: Call) -> Response:
    repo = c.repo()
    merges = (c.arg("merges") or "include").lower()
    if merges not in ("include", "exclude", "only"):
        raise ApiError(400, "merges must be one of include, exclude, only.", "merges")
    ignore = c.flag("ignoreMissing")
    until_ref = c.arg("until") or repo.default_branch
    try:
        until = c.resolve(repo, until_ref, "until")
    except ApiError:
        if not ignore and c.arg("until") is not None:
            raise
        return c.page([], lambda x: x, "commits")
    since = None
    if c.arg("since"):
        try:
            since = c.resolve(repo, c.arg("since") or "", "since")
        except ApiError:
            if not ignore:
                raise
    order = _log(c.state.log_cache, repo, until, since)
    if merges != "include":
        want = merges == "only"
        order = [s for s in order if (len(repo.commits[s].parents) > 1) == want]
    extra: Doc = {}
    if c.flag("withCounts"):
        authors = {repo.commits[s].author_email for s in order}
        extra = {"authorCount": len(authors), "totalCount": len(order)}
    return c.page(
        order, lambda s: render.commit(c.world, repo.commits[s], c.base), "commits", **extra
    )


def get_commit(c: Call) -> Response:
    repo = c.repo()
    sha = c.resolve(repo, c.params["sha"], "commitId", refs=False)
    return JSONResponse(render.commit(c.world, repo.commits[sha], c.base))


def commit_build(c: Call) -> Response:
    repo = c.repo()
    sha = c.resolve(repo, c.params["sha"], "commitId", refs=False)
    key = c.arg("key")
    if key is None:
        raise ApiError(400, "A build key is required.", "key")
    found = next((b for b in repo.builds.get(sha, []) if b.key == key), None)
    if found is None:
        raise ApiError(
            404, f"No build status with key {key}.", exc=EXC + "build.NoSuchBuildStatusException"
        )
    return JSONResponse(render.build_detail(c.world, repo, sha, found, c.base))


# --- handlers: pull requests -------------------------------------------------------------------


def pull_requests(c: Call) -> Response:
    repo = c.repo()
    state = c.choice("state", "OPEN", (*PR_STATES, "ALL"))
    order = c.choice("order", "NEWEST", ("NEWEST", "OLDEST"))
    direction = c.choice("direction", "INCOMING", ("INCOMING", "OUTGOING"))
    at = c.arg("at")
    text = (c.arg("filterText") or "").lower()
    if direction == "INCOMING":
        pool = [(repo, pr) for pr in repo.pull_requests.values()]
    else:
        pool = [
            (r, pr)
            for r in c.world.repositories.values()
            for pr in r.pull_requests.values()
            if pr.from_repo_id == repo.id
        ]
    found = []
    for target, pr in pool:
        if state != "ALL" and pr.state != state:
            continue
        branch = pr.to_branch if direction == "INCOMING" else pr.from_branch
        if at and at not in (branch, f"refs/heads/{branch}"):
            continue
        if text and text not in pr.title.lower() and text not in pr.description.lower():
            continue
        found.append((target, pr))
    by_created = c.world.settings.newest_by == "created"
    found.sort(
        key=lambda tp: (tp[1].created if by_created else tp[1].updated, tp[1].id),
        reverse=order == "NEWEST",
    )
    props = c.flag("withProperties", True)
    return c.page(
        found,
        lambda tp: render.pull_request(c.world, tp[0], tp[1], c.base, props),
        "pull-requests",
    )


def get_pull_request(c: Call) -> Response:
    repo, pr = c.pr()
    return JSONResponse(render.pull_request(c.world, repo, pr, c.base))


def activities(c: Call) -> Response:
    repo, pr = c.pr()
    shown = [
        a
        for a in pr.activities
        if a.action != "COMMENTED" or a.comment_id is None or pr.comment(a.comment_id)
    ]
    if c.world.settings.activities_newest_first:
        shown.reverse()
    from_id = c.arg("fromId")
    if from_id is not None:
        kind = c.arg("fromType")
        if kind not in ("COMMENT", "ACTIVITY"):
            raise ApiError(
                400, "fromType (COMMENT or ACTIVITY) is required with fromId.", "fromType"
            )
        attr = "comment_id" if kind == "COMMENT" else "id"
        index = next((i for i, a in enumerate(shown) if str(getattr(a, attr)) == from_id), None)
        if index is None:
            raise ApiError(404, f"No activity for {kind} {from_id}.", "fromId")
        shown = shown[index:]
    return c.page(shown, lambda a: render.activity(c.world, repo, pr, a, c.base), "activities")


def pr_commits(c: Call) -> Response:
    repo, pr = c.pr()
    shas = [s for s in pr.commit_ids if s in repo.commits]
    extra: Doc = {}
    if c.flag("withCounts"):
        authors = {repo.commits[s].author_email for s in shas}
        extra = {"authorCount": len(authors), "totalCount": len(shas)}
    return c.page(
        shas, lambda s: render.commit(c.world, repo.commits[s], c.base), "commits", **extra
    )


def participants(c: Call) -> Response:
    repo, pr = c.pr()
    people = [DcParticipant(pr.author_id, "AUTHOR"), *pr.reviewers, *pr.participants]
    return c.page(people, lambda p: render.participant(c.world, p, c.base), "participants")


def pr_comments(c: Call) -> Response:
    repo, pr = c.pr()
    path = c.arg("path")
    if path is None and c.world.settings.comments_need_path:
        raise ApiError(400, "A path is required to list comments.", "path")
    anchor_state = c.choice("anchorState", "ACTIVE", ("ACTIVE", "ORPHANED", "ALL"))
    state = c.arg("state")
    roots = []
    for root in pr.comments:
        if root.deleted or (state and root.state != state.upper()):
            continue
        anchor = root.anchor or {}
        if path is not None and path not in (anchor.get("path"), anchor.get("srcPath")):
            continue
        orphaned = bool(anchor.get("orphaned"))
        if anchor_state != "ALL" and orphaned != (anchor_state == "ORPHANED"):
            continue
        roots.append(root)
    return c.page(roots, lambda r: render.comment(c.world, r, c.base, repo.id), "comments")


def _one_comment(c: Call, blocker: bool) -> Response:
    repo, pr = c.pr()
    found = pr.comment(c.params["cid"])
    if found is None or (blocker and found.severity != "BLOCKER"):
        message = f"Comment {c.params['cid']} does not exist."
        raise ApiError(404, message, exc=EXC + "comment.NoSuchCommentException")
    return JSONResponse(render.comment(c.world, found, c.base, repo.id))


def pr_comment(c: Call) -> Response:
    return _one_comment(c, blocker=False)


def blocker_comment(c: Call) -> Response:
    return _one_comment(c, blocker=True)


def blocker_comments(c: Call) -> Response:
    repo, pr = c.pr()
    state = c.arg("state")
    if state is not None:
        state = c.choice("state", "OPEN", ("OPEN", "RESOLVED"))
    found = [
        x
        for x in pr.all_comments()
        if x.severity == "BLOCKER" and (state is None or x.state == state)
    ]
    found.sort(key=lambda x: x.id)
    return c.page(found, lambda x: render.comment(c.world, x, c.base, repo.id), "comments")


# --- handlers: Jira and build status -----------------------------------------------------------


def pr_issues(c: Call) -> Response:
    """Keys from the PR's first 100 commits (newest first), as a bare array (§4)."""
    repo, pr = c.pr()
    keys: dict[str, None] = {}
    for sha in pr.commit_ids[:JIRA_COMMIT_CAP]:
        if sha in repo.commits:
            keys.update(dict.fromkeys(jira_keys(repo.commits[sha].message)))
    return JSONResponse([render.jira_issue(c.world, k) for k in keys])


def issue_commits(c: Call) -> Response:
    key = c.params["issue"]
    max_changes = c.integer("maxChanges", 10, 0)
    index = _jira_index(c.state, c.world)
    found = [
        (c.world.repositories[rid], sha)
        for rid, sha in index.get(key, [])
        if rid in c.world.repositories and c.visible(c.world.repositories[rid])
    ]
    return c.page(
        found,
        lambda rs: render.changeset(c.world, rs[0], rs[0].commits[rs[1]], c.base, max_changes),
        "changesets",
    )


def _builds_for(c: Call, sha: str) -> list:
    found = []
    for repo in c.world.repositories.values():
        if c.visible(repo):
            found.extend(repo.builds.get(sha, []))
    found.sort(key=lambda b: (-b.date_added, b.key))
    return found


def build_statuses(c: Call) -> Response:
    builds = _builds_for(c, c.params["sha"])
    return c.page(builds, lambda b: render.build(b, c.world), "builds")


def build_stats(c: Call) -> Response:
    found = _builds_for(c, c.params["sha"])
    count = {
        s: sum(1 for b in found if b.state == s) for s in ("SUCCESSFUL", "INPROGRESS", "FAILED")
    }
    return JSONResponse(
        {
            "successful": count["SUCCESSFUL"],
            "inProgress": count["INPROGRESS"],
            "failed": count["FAILED"],
        }
    )


# --- the app -----------------------------------------------------------------------------------

P = "/projects/{key}/repos/{slug}"
PR = P + "/pull-requests/{pid:int}"
Handler = Callable[[Call], Response]
CORE: list[tuple[str, Handler]] = [
    ("/projects", projects),
    ("/projects/{key}", get_project),
    ("/projects/{key}/repos", project_repos),
    ("/repos", all_repos),
    ("/users", users),
    ("/users/{user}", get_user),
    (P, get_repo),
    (P + "/branches", branches),
    (P + "/branches/default", legacy_default_branch),
    (P + "/default-branch", default_branch),
    (P + "/tags", tags),
    (P + "/tags/{name:path}", get_tag),
    (P + "/commits", commits),
    (P + "/commits/{sha}", get_commit),
    (P + "/commits/{sha}/builds", commit_build),
    (P + "/pull-requests", pull_requests),
    (PR, get_pull_request),
    (PR + "/activities", activities),
    (PR + "/commits", pr_commits),
    (PR + "/participants", participants),
    (PR + "/comments", pr_comments),
    (PR + "/comments/{cid:int}", pr_comment),
    (PR + "/blocker-comments", blocker_comments),
    (PR + "/blocker-comments/{cid:int}", blocker_comment),
]
JIRA_ROUTES: list[tuple[str, Handler]] = [
    (PR + "/issues", pr_issues),
    ("/issues/{issue}/commits", issue_commits),
]
BUILD_ROUTES: list[tuple[str, Handler]] = [
    ("/commits/stats/{sha}", build_stats),
    ("/commits/{sha}", build_statuses),
]
AUTH_ONLY = frozenset({users, get_user})


def _endpoint(handler: Handler, anonymous: bool = False) -> Callable:
    """Wrap a handler: authenticate, apply denials, take the world lock, map errors."""

    async def endpoint(request: Request) -> Response:
        config: DcConfig = request.app.state.config
        viewer: Viewer = request.scope.get(VIEWER_KEY) or authenticate(
            request.headers.get("authorization"), config
        )
        if not anonymous:
            if viewer.scheme == "invalid":
                return error_response(
                    401,
                    "Authentication failed. Please check your credentials and try again.",
                    exc=EXC + "auth.IncorrectPasswordAuthenticationException",
                )
            if viewer.uuid is None and (not config.allow_anonymous or handler in AUTH_ONLY):
                return error_response(
                    401, "Authentication is required.", exc=EXC + "AuthorisationException"
                )
            grants = config.access.get(viewer.key) if viewer.key else None
            if any(re.search(p, request.url.path) for p in config.deny) or not dc_allowed(
                request.url.path, grants
            ):
                denied = _denied()
                return error_response(401, denied.message, exc=denied.exc)
        try:
            with request.app.state.lock:
                return handler(Call(request, viewer))
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.context, exc.exc)

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    messages = {404: "The requested resource does not exist.", 405: "Method not allowed."}
    return error_response(status, messages.get(status, "An unexpected error occurred."))


def create_dc_app(world: DcWorld, config: DcConfig | None = None) -> Starlette:
    """The simulated Bitbucket Server API for ``world`` (see the module docstring)."""
    config = config or DcConfig()
    root = config.base_url.rstrip("/") if config.base_url else None
    context = urlsplit(root).path if root else ""
    routes = [
        Route(context + prefix + "/application-properties", _endpoint(application_properties, True))
        for prefix in API
    ]
    for prefixes, table in ((API, CORE), (JIRA, JIRA_ROUTES), (BUILDS, BUILD_ROUTES)):
        for prefix in prefixes:
            routes += [
                Route(context + prefix + path, _endpoint(handler), methods=["GET"])
                for path, handler in table
            ]
    app = DcApp(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.world = world
    app.state.config = config
    app.state.root = root
    app.state.faults = config.faults
    app.state.lock = threading.RLock()
    app.state.request_log = []
    app.state.log_cache = {}
    app.state.jira = None
    return app


def dc_client(world: DcWorld, config: DcConfig | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on a fresh in-process Server simulator (app: ``simulator_app``)."""
    config = config or DcConfig(base_url=IN_PROCESS_ROOT)
    app = create_dc_app(world, config)
    kwargs.setdefault("base_url", config.base_url or IN_PROCESS_ROOT)
    client = httpx.AsyncClient(transport=SimulatorTransport(app), **kwargs)
    client.simulator_app = app  # type: ignore[attr-defined]
    return client


def viewer_slug(world: DcWorld) -> str:
    """The user the CLI's credentials act as: the first user (every repository is visible)."""
    return world.users[min(world.users)].slug


def dc_simulator_config(
    world: DcWorld,
    token: str | None,
    basic: tuple[str, str] | None,
    base_url: str,
    faults: Faults | None = None,
) -> DcConfig:
    """A config accepting a Bearer token and/or a user + password, both as ``viewer_slug``."""
    who = viewer_slug(world)
    return DcConfig(
        base_url=base_url,
        tokens={token: who} if token else {},
        basic={basic: who} if basic else {},
        faults=faults or DcFaults(),
    )


def mirror_command(world: DcWorld, base_url: str, env: str) -> str:
    """The ``bbmirror sync`` line that mirrors every project of the world (personal ones too)."""
    keys = sorted(p.key for p in world.projects.values())
    projects = " ".join(f"--project {shlex.quote(k)}" for k in keys)
    return f"{env} bbmirror sync sim.db --server-url {base_url} {projects}"
