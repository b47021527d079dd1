"""Cloud API handlers for people, places, issues, attachments and issue exports."""

from __future__ import annotations

import json
import mimetypes
import re
import secrets
from collections.abc import Callable
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from bbmirror.simulator.cloud import render, render_issues
from bbmirror.simulator.cloud.call import (
    API_PREFIX,
    ApiError,
    Call,
    Doc,
    ExportJob,
    _epoch,
)
from bbmirror.simulator.cloud.export import export_zip
from bbmirror.simulator.cloud.world import (
    Issue,
    Membership,
)
from bbmirror.simulator.common.responses import JSONResponse

Handler = Callable[[Call], Response]


def gone(c: Call) -> Response:
    if c.config.legacy_workspace_apis:
        uid = c.require_user()
        mine = [
            w for w in c.world.workspaces.values() if any(m.user_uuid == uid for m in w.members)
        ]
        if c.request.url.path.endswith("/permissions/workspaces"):
            pairs = [(w, m) for w in mine for m in w.members if m.user_uuid == uid]
            return c.page(pairs, lambda p: render.membership(c.world, p[0], p[1], c.base, c.html))
        return c.page(mine, lambda w: render.workspace(c.world, w, c.base, html=c.html))
    raise ApiError(
        410,
        "This API is no longer available: cross-workspace APIs were removed (CHANGE-2770). "
        "Use /2.0/user/workspaces.",
    )


def current_user(c: Call) -> Response:
    uid = c.require_user()
    found = c.world.user(uid)
    if found is None:
        raise ApiError(401, "Authentication required")
    return c.json(render.user(c.world, found, c.base, condensed=False, html=c.html))


def user_workspaces(c: Call) -> Response:
    uid = c.require_user()
    pairs = [
        (ws, m) for ws in c.world.workspaces.values() for m in ws.members if m.user_uuid == uid
    ]
    return c.page(pairs, lambda p: render.workspace_access(c.world, p[0], p[1], c.base, c.html))


def get_workspace(c: Call) -> Response:
    return c.json(render.workspace(c.world, c.workspace(), c.base, html=c.html))


def members(c: Call) -> Response:
    ws = c.workspace()
    if c.member(ws) is None:
        raise ApiError(403, "You must be a member of this workspace to list its members.")

    def make(m: Membership) -> Doc:
        return render.membership(c.world, ws, m, c.base, c.html)

    # q may filter on permission (the workspace's ``owners`` link does) though no member shows it.
    return c.page(
        ws.members,
        make,
        full=lambda m: {**make(m), "permission": m.permission},
        post=lambda d: {k: v for k, v in d.items() if k != "permission"},
    )


def member(c: Call) -> Response:
    ws = c.workspace()
    if c.member(ws) is None:
        raise ApiError(403, "You must be a member of this workspace to list its members.")
    key = c.params["member"]
    found = next(
        (
            m
            for m in ws.members
            if key in (m.user_uuid, getattr(c.world.user(m.user_uuid), "account_id", None))
        ),
        None,
    )
    if found is None:
        raise ApiError(404, f"{key} is not a member of {ws.slug}")
    return c.json(render.membership(c.world, ws, found, c.base, c.html))


def default_reviewers(c: Call) -> Response:
    """The repository's own default reviewers as condensed users (deleted ones stay listed)."""
    repo = c.repo()
    return c.page(
        repo.default_reviewers, lambda u: render.user_by_uuid(c.world, u, c.base, c.html) or {}
    )


def projects(c: Call) -> Response:
    ws = c.workspace()
    visible = [p for p in ws.projects.values() if not p.is_private or c.member(ws)]
    return c.page(visible, lambda p: render.project(c.world, ws, p, c.base, html=c.html))


def get_project(c: Call) -> Response:
    ws = c.workspace()
    found = ws.projects.get(c.params["key"])
    if found is None or (found.is_private and c.member(ws) is None):
        raise ApiError(404, f"Project {c.params['key']} not found")
    return c.json(render.project(c.world, ws, found, c.base, html=c.html))


def repositories(c: Call) -> Response:
    ws = c.find_workspace(c.params["w"])
    if ws is None:
        raise ApiError(404, f"No workspace with identifier '{c.params['w']}'.")
    repos = [r for r in c.world.repositories.values() if r.workspace == ws.slug and c.can_see(r)]
    return c.page(repos, lambda r: render.repository(c.world, r, c.base, html=c.html))


def get_repository(c: Call) -> Response:
    return c.json(render.repository(c.world, c.repo(), c.base, html=c.html))


def issues(c: Call) -> Response:
    repo = c.tracker()
    items = sorted(repo.issues.values(), key=lambda i: i.id)
    return c.page(
        items,
        lambda i: render_issues.issue(c.world, repo, i, c.base, html=c.html),
        index=_issue_index,
    )


def get_issue(c: Call) -> Response:
    repo, found = c.issue()
    return c.json(render_issues.issue(c.world, repo, found, c.base, html=c.html))


def _issue_items(attr: str, show: Callable, param: str, what: str) -> tuple[Handler, Handler]:
    """The list and the one-item handlers of an issue's comments or changes (same paging,
    same 404): ``GET …/issues/{id}/{attr}`` and ``GET …/issues/{id}/{attr}/{param}``."""

    def listing(c: Call) -> Response:
        repo, i = c.issue()
        return c.page(getattr(i, attr), lambda x: show(c.world, repo, i, x, c.base, c.html))

    def one(c: Call) -> Response:
        repo, i = c.issue()
        wanted = str(c.params[param])
        found = next((x for x in getattr(i, attr) if str(x.id) == wanted), None)
        if found is None:
            raise ApiError(404, f"{what} not found")
        return c.json(show(c.world, repo, i, found, c.base, c.html))

    return listing, one


issue_comments, issue_comment = _issue_items(
    "comments", render_issues.issue_comment, "cid", "Comment"
)
issue_changes, issue_change = _issue_items("changes", render_issues.issue_change, "chid", "Change")


def attachments(c: Call) -> Response:
    repo, i = c.issue()
    items = sorted(i.attachments, key=lambda a: _epoch(a.created_on))  # by upload date (§3.8)
    return c.page(items, lambda a: render_issues.attachment(c.world, repo, i, a, c.base))


def get_attachment(c: Call) -> Response:
    repo, i = c.issue()
    name = c.params["name"]
    found = next((a for a in i.attachments if a.name == name), None)
    if found is None:
        raise ApiError(404, f"Attachment {name} not found")
    token = secrets.token_urlsafe(18)
    c.state.one_time[token] = (found.name, found.content)
    root = c.base[: -len(API_PREFIX)] if c.base.endswith(API_PREFIX) else c.base
    return RedirectResponse(f"{root}/_sim/files/{token}/{quote(found.name)}", status_code=302)


def one_time_file(c: Call) -> Response:
    entry = c.state.one_time.pop(c.params["token"], None)
    if entry is None:
        raise ApiError(404, "This link has expired or was already used.")
    name, content = entry
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(content, media_type=ctype)


def _named_list(kind: str) -> Handler:
    table = render.NAMED_PATHS[kind]

    def handler(c: Call) -> Response:
        repo = c.tracker()
        items = sorted(getattr(repo, table).values(), key=lambda n: n.id)
        return c.page(items, lambda n: render.named(c.world, repo, kind, n, c.base))

    return handler


def _named_one(kind: str) -> Handler:
    table = render.NAMED_PATHS[kind]

    def handler(c: Call) -> Response:
        repo = c.tracker()
        found = getattr(repo, table).get(c.params["nid"])
        if found is None:
            raise ApiError(404, f"No {kind} with id {c.params['nid']}")
        return c.json(render.named(c.world, repo, kind, found, c.base))

    return handler


def start_export(c: Call) -> Response:
    """``POST …/issues/export`` (§6.4): 202 and a ``Location``; repository admins only."""
    repo = c.tracker()
    uid = c.require_user()
    if not _repository_admin(c, repo, uid):
        raise ApiError(403, "You need admin access to this repository to export its issues.")
    options = _export_options(c)
    c.state.next_task += 1
    job = ExportJob(repo.uuid, c.state.next_task, attachments=options["include_attachments"])
    c.state.export_jobs[job.task_id] = job
    location = (
        f"{c.base}/repositories/{repo.workspace}/{repo.slug}/issues/export/"
        f"{repo.slug}-issues-{job.task_id}.zip"
    )
    body = render.job_status("ACCEPTED", "Initializing", 0, 0)
    return JSONResponse(body, status_code=202, headers={"Location": location})


def _repository_admin(c: Call, repo, uid: str) -> bool:
    """Admin on ``repo``: a token given ``repository:admin``, a workspace owner, or a user
    the config makes admin of every repository (``repository_admins``)."""
    scopes = c.config.scopes.get(c.viewer.key) if c.viewer.key else None
    if scopes is not None:
        return "repository:admin" in scopes  # the scope check already refused the others
    if uid in c.config.repository_admins:
        return True
    ws = c.world.workspaces.get(repo.workspace)
    members = ws.members if ws is not None else []
    return any(m.user_uuid == uid and m.permission == "owner" for m in members)


def _export_options(c: Call) -> dict:
    """The JSON ``export_options`` body: ``type`` is required (§6.4); 400 without it."""
    raw = getattr(c.request.state, "raw_body", b"") or b""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise ApiError(400, "Bad request: export_options 'type' is required")
    return {"include_attachments": body.get("include_attachments") is True}


def poll_export(c: Call) -> Response:
    """202 with the job's status while it runs; then the zip, or 200 ``FAILURE`` (§6.4)."""
    repo = c.tracker()
    match = re.fullmatch(r"(.+)-issues-(\d+)\.zip", c.params["job"])
    job = c.state.export_jobs.get(int(match.group(2))) if match else None
    if job is None or job.repo_uuid != repo.uuid:
        raise ApiError(404, "No export job has begun")
    job.polls += 1
    total = len(repo.issues)
    if job.polls <= c.config.export_polls_before_ready:
        count = total * job.polls // (c.config.export_polls_before_ready + 1)
        return c.json(render.job_status("STARTED", "Attachments", total, count), status=202)
    if c.config.export_fails:
        return c.json(render.job_status("FAILURE", "Attachments", total, 0))
    if job.data is None:
        job.data = export_zip(c.world, repo, missing_files=0.0 if job.attachments else 1.0)
    name = c.params["job"]
    return Response(
        job.data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _issue_index(issue: Issue) -> Doc:
    return {
        "id": issue.id,
        "title": issue.title,
        "state": issue.state,
        "created_on": issue.created_on,
        "updated_on": issue.updated_on,
    }
