"""The Bitbucket Cloud 2.0 REST API over a simulated ``World``: a Starlette app.

Every handler runs under ``app.state.lock`` (an ``RLock``) so another thread can mutate the
world between requests. Lists apply ``q`` (on the full rendered object) → ``sort`` → page →
``fields``, as reference §1-§2 describe; commits and PR activity use iterator paging. This
module routes; ``call.py`` holds the per-request helper, ``handlers.py`` and ``pulls.py`` the
handlers.

Choices where the reference is silent (docs/simulator.md, "HTTP API, auth and faults"):

- ``pagelen`` defaults to 10 and is clamped to 100 (activity: above 50 is a 400
  ``Invalid pagelen``); ``pagelen < 1`` or a non-number is a 400; ``page`` past the end gives
  empty ``values`` and no ``next``.
- Unstated default orders: issues by id ascending, PRs by id descending, repositories and
  members in creation order, branches and tags lexically, activity newest first.
- ``GET /workspaces`` and ``/user/permissions/workspaces`` answer 410 (CHANGE-2770) unless
  ``legacy_workspace_apis`` is set; ``/user/workspaces`` lists ``workspace_access`` objects.
- A private workspace (or private repository) of which the caller is not a member is a 404;
  a public workspace's ``members`` is a 403 for non-members.
- The export job needs the ``issue`` and ``repository:admin`` scopes and repository admin
  rights (a workspace owner, or ``repository_admins``); a JSON body with ``type``.
- PR ``statuses`` are those of the PR's source commit.
- A one-time attachment URL serves the bytes once; later uses are a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bbmirror.simulator.cloud import deploys, diffstat, pipelines_api, render
from bbmirror.simulator.cloud.call import (
    API_PREFIX,
    ApiError,
    Call,
    SimulatorApp,
    SimulatorConfig,
    error_response,
)
from bbmirror.simulator.cloud.handlers import (
    _named_list,
    _named_one,
    attachments,
    current_user,
    default_reviewers,
    get_attachment,
    get_issue,
    get_project,
    get_repository,
    get_workspace,
    gone,
    issue_change,
    issue_changes,
    issue_comment,
    issue_comments,
    issues,
    member,
    members,
    one_time_file,
    poll_export,
    projects,
    repositories,
    start_export,
    user_workspaces,
)
from bbmirror.simulator.cloud.insights import annotations as insight_annotations
from bbmirror.simulator.cloud.insights import reports as insight_reports
from bbmirror.simulator.cloud.pulls import (
    branches,
    commit_statuses,
    commits,
    get_branch,
    get_commit,
    get_pullrequest,
    get_tag,
    pr_activity,
    pr_comment,
    pr_comments,
    pr_commits,
    pr_statuses,
    pullrequests,
    refs,
    repo_activity,
    tags,
)
from bbmirror.simulator.cloud.scopes import cloud_refusal
from bbmirror.simulator.cloud.tasks import pr_tasks
from bbmirror.simulator.cloud.world import (
    World,
)
from bbmirror.simulator.common.app import (
    VIEWER_KEY,
    Viewer,
    authenticate,
)
from bbmirror.simulator.common.responses import JSONResponse

# --- per-request helper ------------------------------------------------------------------------


# --- commits -----------------------------------------------------------------------------------


# --- handlers ----------------------------------------------------------------------------------


# issues


# pull requests


# commits and refs


# --- wiring ------------------------------------------------------------------------------------


def _endpoint(handler: Callable[[Call], Response], anonymous: bool = False) -> Callable:
    """Wrap a handler: read the body, authenticate, take the world lock, map errors."""

    async def endpoint(request: Request) -> Response:
        form: list[tuple[str, str]] = []
        if request.method == "POST":
            raw = await request.body()
            request.state.raw_body = raw  # a JSON body (the export job's export_options)
            body = raw.decode("utf-8", "replace")
            if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
                form = parse_qsl(body, keep_blank_values=True)
        viewer: Viewer = request.scope.get(VIEWER_KEY) or authenticate(
            request.headers.get("authorization"), request.app.state.config
        )
        if not anonymous:
            if viewer.scheme == "invalid":
                return error_response(401, "Token is invalid, expired, or not supported.")
            if viewer.uuid is None and not request.app.state.config.allow_anonymous:
                return error_response(401, "Authentication required")
            scopes = request.app.state.config.scopes.get(viewer.key) if viewer.key else None
            refusal = cloud_refusal(request.scope["path"][len(API_PREFIX) :], scopes)
            if refusal is not None:
                return JSONResponse(refusal, status_code=403)
        try:
            with request.app.state.lock:
                return handler(Call(request, viewer, form))
        except ApiError as exc:
            return error_response(exc.status, exc.message)

    return endpoint


REPO = API_PREFIX + "/repositories/{w}/{r}"
ISSUE = REPO + "/issues/{iid:int}"
PR = REPO + "/pullrequests/{pid:int}"

ROUTES: list[tuple[str, Callable[[Call], Response], tuple[str, ...]]] = [
    ("/user", current_user, ("GET",)),
    ("/user/workspaces", user_workspaces, ("GET",)),
    ("/user/permissions/workspaces", gone, ("GET",)),
    ("/workspaces", gone, ("GET",)),
    ("/workspaces/{w}", get_workspace, ("GET",)),
    ("/workspaces/{w}/members", members, ("GET",)),
    ("/workspaces/{w}/members/{member}", member, ("GET",)),
    ("/workspaces/{w}/projects", projects, ("GET",)),
    ("/workspaces/{w}/projects/{key}", get_project, ("GET",)),
    ("/repositories/{w}", repositories, ("GET",)),
]
REPO_ROUTES: list[tuple[str, Callable[[Call], Response], tuple[str, ...]]] = [
    ("", get_repository, ("GET",)),
    ("/issues", issues, ("GET",)),
    ("/issues/export", start_export, ("POST",)),
    ("/issues/export/{job}", poll_export, ("GET",)),
    ("/issues/{iid:int}", get_issue, ("GET",)),
    ("/issues/{iid:int}/comments", issue_comments, ("GET",)),
    ("/issues/{iid:int}/comments/{cid:int}", issue_comment, ("GET",)),
    ("/issues/{iid:int}/changes", issue_changes, ("GET",)),
    ("/issues/{iid:int}/changes/{chid}", issue_change, ("GET",)),
    ("/issues/{iid:int}/attachments", attachments, ("GET",)),
    ("/issues/{iid:int}/attachments/{name:path}", get_attachment, ("GET",)),
    *[(f"/{table}", _named_list(kind), ("GET",)) for kind, table in render.NAMED_PATHS.items()],
    *[
        (f"/{table}/{{nid:int}}", _named_one(kind), ("GET",))
        for kind, table in render.NAMED_PATHS.items()
    ],
    ("/default-reviewers", default_reviewers, ("GET",)),
    ("/pullrequests", pullrequests, ("GET",)),
    ("/pullrequests/activity", repo_activity, ("GET",)),
    ("/pullrequests/{pid:int}", get_pullrequest, ("GET",)),
    ("/pullrequests/{pid:int}/comments", pr_comments, ("GET",)),
    ("/pullrequests/{pid:int}/comments/{cid:int}", pr_comment, ("GET",)),
    ("/pullrequests/{pid:int}/activity", pr_activity, ("GET",)),
    ("/pullrequests/{pid:int}/commits", pr_commits, ("GET",)),
    ("/pullrequests/{pid:int}/statuses", pr_statuses, ("GET",)),
    ("/pullrequests/{pid:int}/diffstat", diffstat.pr_diffstat, ("GET",)),
    ("/diffstat/{spec:path}", diffstat.diffstat, ("GET",)),
    ("/pullrequests/{pid:int}/tasks", pr_tasks, ("GET",)),
    ("/commits", commits, ("GET", "POST")),
    ("/commits/{revision:path}", commits, ("GET", "POST")),
    ("/commit/{hash}", get_commit, ("GET",)),
    ("/commit/{hash}/statuses", commit_statuses, ("GET",)),
    ("/commit/{hash}/reports", insight_reports, ("GET",)),
    ("/commit/{hash}/reports/{rid}/annotations", insight_annotations, ("GET",)),
    ("/refs", refs, ("GET",)),
    ("/refs/branches", branches, ("GET",)),
    ("/refs/branches/{name:path}", get_branch, ("GET",)),
    ("/refs/tags", tags, ("GET",)),
    ("/refs/tags/{name:path}", get_tag, ("GET",)),
    ("/pipelines", pipelines_api.pipelines, ("GET",)),  # asked as `pipelines/` (§3.20)
    ("/pipelines/{puuid}", pipelines_api.get_pipeline, ("GET",)),
    ("/pipelines/{puuid}/steps", pipelines_api.steps, ("GET",)),
    *deploys.ROUTES,  # /environments/ and /deployments/ (trailing slashes, §3.19)
]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    messages = {404: "Resource not found", 405: "Method not allowed"}
    return error_response(status, messages.get(status, getattr(exc, "detail", "Error")))


def create_app(world: World, config: SimulatorConfig | None = None) -> Starlette:
    """The simulated Bitbucket Cloud API for ``world`` (see the module docstring)."""
    config = config or SimulatorConfig()
    routes = [
        Route(API_PREFIX + path, _endpoint(handler), methods=list(methods))
        for path, handler, methods in ROUTES
    ]
    routes += [
        Route(REPO + path, _endpoint(handler), methods=list(methods))
        for path, handler, methods in REPO_ROUTES
    ]
    routes.append(Route("/_sim/files/{token}/{name:path}", _endpoint(one_time_file, True)))
    app = SimulatorApp(routes=routes, exception_handlers={HTTPException: _http_error})
    app.attach(world, config)
    app.state.export_jobs = {}
    app.state.next_task = 0
    app.state.one_time = {}
    app.state.commit_specs = {}
    return app
