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

import re
import shlex
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bbmirror.simulator.common.app import VIEWER_KEY, Viewer, authenticate
from bbmirror.simulator.common.faults import Faults
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.server import prsize
from bbmirror.simulator.server.call import (
    API,
    BUILDS,
    EXC,
    IN_PROCESS_ROOT,
    JIRA,
    ApiError,
    Call,
    DcApp,
    DcConfig,
    DcFaults,
    _denied,
    error_response,
)
from bbmirror.simulator.server.handlers import (
    all_repos,
    application_properties,
    branches,
    build_stats,
    build_stats_many,
    build_statuses,
    commit_build,
    commits,
    default_branch,
    get_commit,
    get_project,
    get_repo,
    get_tag,
    get_user,
    labels,
    legacy_default_branch,
    project_repos,
    projects,
    tags,
    users,
)
from bbmirror.simulator.server.pulls import (
    activities,
    blocker_comment,
    blocker_comments,
    get_pull_request,
    issue_commits,
    participants,
    pr_comment,
    pr_comments,
    pr_commits,
    pr_issues,
    pull_requests,
)
from bbmirror.simulator.server.scopes import dc_allowed
from bbmirror.simulator.server.world import (
    DcWorld,
)

# --- one request -------------------------------------------------------------------------------


# --- handlers: projects, repositories, users ---------------------------------------------------


# --- handlers: refs and commits ----------------------------------------------------------------


# --- handlers: pull requests -------------------------------------------------------------------


# --- handlers: Jira and build status -----------------------------------------------------------


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
    (P + "/labels", labels),
    (P + "/tags/{name:path}", get_tag),
    (P + "/commits", commits),
    (P + "/commits/{sha}", get_commit),
    (P + "/commits/{sha}/builds", commit_build),
    (P + "/pull-requests", pull_requests),
    (PR, get_pull_request),
    (PR + "/activities", activities),
    (PR + "/commits", pr_commits),
    (PR + "/changes", prsize.changes),
    (PR + "/diff", prsize.diff),
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
# POST endpoints that only read (their body is a query too long for a URL).
POSTS: list[tuple[str, Handler]] = [("/commits/stats", build_stats_many)]
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
        call = Call(request, viewer)
        if request.method == "POST":
            call.body = await request.body()
        try:
            with request.app.state.lock:
                return handler(call)
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
    routes += [
        Route(context + prefix + path, _endpoint(handler), methods=["POST"])
        for prefix in BUILDS
        for path, handler in POSTS
    ]
    app = DcApp(routes=routes, exception_handlers={HTTPException: _http_error})
    app.attach(world, config)
    app.state.root = root
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
