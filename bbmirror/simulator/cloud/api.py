"""The Bitbucket Cloud 2.0 REST API over a simulated ``World``: a Starlette app.

Every handler runs under ``app.state.lock`` (an ``RLock``) so another thread can mutate the
world between requests. Lists apply ``q`` (on the full rendered object) → ``sort`` → page →
``fields``, as reference §1-§2 describe; commits and PR activity use iterator paging.

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
- The export job requires an authenticated workspace member (401 anonymous, 403 otherwise).
- PR ``statuses`` are those of the PR's source commit.
- A one-time attachment URL serves the bytes once; later uses are a 404.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bbmirror.simulator.cloud import render
from bbmirror.simulator.cloud.bbql import BBQLError, BoolOp, compile_query, parse, sort_items
from bbmirror.simulator.cloud.export import export_zip
from bbmirror.simulator.cloud.fields import apply_fields, wants_field
from bbmirror.simulator.cloud.world import (
    Activity,
    Issue,
    Membership,
    PullRequest,
    Repository,
    Workspace,
    World,
)
from bbmirror.simulator.common.app import (
    VIEWER_KEY,
    SimulatorBase,
    Viewer,
    authenticate,
)
from bbmirror.simulator.common.faults import Faults
from bbmirror.simulator.common.graph import log_order
from bbmirror.simulator.common.responses import JSONResponse
from bbmirror.simulator.common.scopes import cloud_refusal

API_PREFIX = "/2.0"
IN_PROCESS_BASE = "http://bitbucket.test/2.0"
DEFAULT_PAGELEN = 10
MAX_PAGELEN = 100
MAX_ACTIVITY_PAGELEN = 50
PR_STATE_NAMES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")

Doc = dict[str, Any]


@dataclass
class SimulatorConfig:
    """How the simulator presents itself: base URL, credentials, faults and switches."""

    base_url: str | None = None  # public API base; None: derived from each request's Host
    tokens: dict[str, str] = field(default_factory=dict)  # Bearer token -> user uuid
    basic: dict[tuple[str, str], str] = field(default_factory=dict)  # (email, token) -> uuid
    allow_anonymous: bool = True
    faults: Faults = field(default_factory=Faults)
    html_base: str = render.HTML_BASE
    export_polls_before_ready: int = 1
    legacy_workspace_apis: bool = False  # True: /workspaces lists instead of 410
    issue_tracker_removed: bool = False  # True: every issue endpoint answers 410 (2026-08-20)
    # Token or Basic email -> the scopes it was given (simulator/scopes.py); absent: unrestricted
    scopes: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class ExportJob:
    repo_uuid: str
    task_id: int
    polls: int = 0
    data: bytes | None = None


class SimulatorApp(SimulatorBase):
    """The Cloud app: the common layers, dated by the world's ISO clock."""

    def now(self) -> datetime:
        return datetime.fromisoformat(self.state.world.clock)


class ApiError(Exception):
    """An error answered with Bitbucket's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(render.error(message), status_code=status, headers=headers)


# --- per-request helper ------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _epoch(date: str) -> float:
    return datetime.fromisoformat(date).timestamp()


def _encode_cursor(data: list) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(token: str) -> list:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as exc:
        raise ApiError(400, "Invalid cursor") from exc
    if not isinstance(data, list) or len(data) != 3 or not isinstance(data[0], int):
        raise ApiError(400, "Invalid cursor")
    return data


class Call:
    """One request: parameters, the viewer, and helpers to find, page and answer."""

    def __init__(self, request: Request, viewer: Viewer, form: list[tuple[str, str]]) -> None:
        self.request = request
        self.viewer = viewer
        self.form = form
        self.state = request.app.state
        self.world: World = self.state.world
        self.config: SimulatorConfig = self.state.config
        self.params = request.path_params
        self.query = request.query_params
        base = self.config.base_url
        if base is None:
            base = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}{API_PREFIX}"
        self.base = base.rstrip("/")
        self.html = self.config.html_base.rstrip("/")

    # parameters

    def arg(self, name: str) -> str | None:
        value = self.query.get(name)
        return value if value not in (None, "") else None

    def args(self, name: str) -> list[str]:
        return [v for v in self.query.getlist(name) if v] + [
            v for k, v in self.form if k == name and v
        ]

    def _int(self, name: str, default: int, message: str) -> int:
        raw = self.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ApiError(400, message) from exc
        if value < 1:
            raise ApiError(400, message)
        return value

    # visibility

    def member(self, ws: Workspace) -> Membership | None:
        if self.viewer.uuid is None:
            return None
        return next((m for m in ws.members if m.user_uuid == self.viewer.uuid), None)

    def require_user(self) -> str:
        if self.viewer.uuid is None:
            raise ApiError(401, "Authentication required")
        return self.viewer.uuid

    def find_workspace(self, key: str) -> Workspace | None:
        found = self.world.workspaces.get(key)
        if found is None and key.startswith("{"):
            found = next((w for w in self.world.workspaces.values() if w.uuid == key), None)
        return found

    def workspace(self) -> Workspace:
        key = self.params["w"]
        ws = self.find_workspace(key)
        if ws is None or (ws.is_private and self.member(ws) is None):
            raise ApiError(404, f"No workspace with identifier '{key}'.")
        return ws

    def can_see(self, repo: Repository) -> bool:
        if not repo.is_private:
            return True
        ws = self.world.workspaces.get(repo.workspace)
        return ws is not None and self.member(ws) is not None

    def repo(self) -> Repository:
        w, r = self.params["w"], self.params["r"]
        found: Repository | None = None
        if w in ("{}", ""):
            found = self.world.repo("{}", r) if r.startswith("{") else None
        else:
            ws = self.find_workspace(w)
            if ws is not None:
                found = self.world.repo(ws.slug, r)
        if found is None or not self.can_see(found):
            raise ApiError(404, f"Repository {w}/{r} not found")
        return found

    def tracker(self) -> Repository:
        repo = self.repo()
        if self.config.issue_tracker_removed:
            raise ApiError(410, "The issue tracker has been removed from Bitbucket Cloud.")
        if not repo.has_issues:
            raise ApiError(404, "Repository has no issue tracker.")
        return repo

    def issue(self) -> tuple[Repository, Issue]:
        repo = self.tracker()
        found = repo.issues.get(self.params["iid"])
        if found is None:
            raise ApiError(404, "Issue not found")
        return repo, found

    def pr(self) -> tuple[Repository, PullRequest]:
        repo = self.repo()
        found = repo.pullrequests.get(self.params["pid"])
        if found is None:
            raise ApiError(404, "Pull request not found")
        return repo, found

    # answers

    def link(self, **replace: str | int) -> str:
        """This request's absolute URL with some query parameters replaced (others kept)."""
        raw = self.request.scope.get("raw_path") or self.request.url.path.encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        pairs: list[tuple[str, str]] = []
        pending = {k: str(v) for k, v in replace.items()}
        for key, value in self.query.multi_items():
            if key in replace:
                if key in pending:
                    pairs.append((key, pending.pop(key)))
                continue
            pairs.append((key, value))
        pairs.extend(pending.items())
        return f"{self.base}{path}?{urlencode(pairs, quote_via=quote)}"

    def json(self, doc: Doc, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        fields = self.query.get("fields")
        if fields:
            doc = apply_fields(doc, fields)
        return JSONResponse(doc, status_code=status, headers=headers)

    def sorted_filtered(self, docs: list[Doc], q: str | None, sort: str | None) -> list[Doc]:
        try:
            if q:
                predicate = compile_query(q)
                docs = [d for d in docs if predicate(d)]
            if sort:
                docs = sort_items(docs, sort)
        except BBQLError as exc:
            raise ApiError(400, str(exc)) from exc
        return docs

    def page(
        self,
        objs: Sequence[Any],
        make: Callable[[Any], Doc],
        *,
        default_sort: str | None = None,
        post: Callable[[Doc], Doc] | None = None,
        full: Callable[[Any], Doc] | None = None,
        index: Callable[[Any], Doc] | None = None,
    ) -> Response:
        """A list-style page: ``size``, ``page``, ``pagelen``, ``next``, ``previous``.

        ``full`` renders the object that ``q`` and ``sort`` see (default ``make``); ``post``
        trims each value of the page afterwards. ``index`` gives the same values as the
        rendered object for the ``INDEXED`` top-level fields, so a query and sort on those
        alone need not render every object (a speed-up only: results are identical).
        """
        pagelen = min(self._int("pagelen", DEFAULT_PAGELEN, "Invalid pagelen"), MAX_PAGELEN)
        page = self._int("page", 1, "Invalid page")
        q, sort = self.arg("q"), self.arg("sort") or default_sort
        start = (page - 1) * pagelen
        if (q or sort) and index is not None and _only_fields(q, sort) <= INDEXED:
            # Filter and sort cheap top-level fields first, then render just this page.
            shallow = [{**index(o), POSITION: n} for n, o in enumerate(objs)]
            chosen = self.sorted_filtered(shallow, q, sort)
            total = len(chosen)
            values = [make(objs[d[POSITION]]) for d in chosen[start : start + pagelen]]
        elif q or sort:
            docs = self.sorted_filtered([(full or make)(o) for o in objs], q, sort)
            total, values = len(docs), docs[start : start + pagelen]
        else:
            total, values = len(objs), [make(o) for o in objs[start : start + pagelen]]
        if post is not None:
            values = [post(v) for v in values]
        env: Doc = {"size": total, "page": page, "pagelen": pagelen}
        if start + pagelen < total:
            env["next"] = self.link(page=page + 1)
        if page > 1:
            env["previous"] = self.link(page=page - 1)
        env["values"] = values
        return self.json(env)

    def cursor(
        self,
        items: Sequence[Any],
        key: Callable[[Any], str],
        make: Callable[[Any], Doc],
        *,
        max_pagelen: int = MAX_PAGELEN,
        strict: bool = False,
        spec: str = "",
    ) -> Response:
        """An iterator-style page: only ``pagelen``, ``values`` and an opaque ``next``.

        The cursor names the next item, so items added at the head between pages neither
        repeat nor vanish; when that item is gone it falls back to the offset.
        """
        pagelen = self._int("pagelen", DEFAULT_PAGELEN, "Invalid pagelen")
        if pagelen > max_pagelen:
            if strict:
                raise ApiError(400, "Invalid pagelen")
            pagelen = max_pagelen
        start = 0
        token = self.arg("ctx")
        if token:
            offset, anchor, _ = _decode_cursor(token)
            start = next((i for i, item in enumerate(items) if key(item) == anchor), offset)
        values = [make(item) for item in items[start : start + pagelen]]
        env: Doc = {"pagelen": pagelen, "values": values}
        end = start + pagelen
        if end < len(items):
            env["next"] = self.link(ctx=_encode_cursor([end, key(items[end]), spec]))
        return self.json(env)


# --- commits -----------------------------------------------------------------------------------


def resolve_ref(repo: Repository, ref: str) -> str:
    """A branch, tag, full hash or unique hash prefix (≥ 4) → full hash; 404 otherwise."""
    if ref in repo.branches:
        return repo.branches[ref]
    if ref in repo.tags:
        return repo.tags[ref].target
    if ref in repo.commits:
        return ref
    if len(ref) >= 4 and re.fullmatch(r"[0-9a-fA-F]+", ref):
        matches = [h for h in repo.commits if h.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
    raise ApiError(404, f"Commit not found: {ref}")


def commit_order(repo: Repository, include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """``git log include ^exclude`` newest first, children always before their parents."""
    return log_order(repo.commits, include, exclude, lambda h: _epoch(repo.commits[h].date))


# --- handlers ----------------------------------------------------------------------------------


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


# issues


def issues(c: Call) -> Response:
    repo = c.tracker()
    items = sorted(repo.issues.values(), key=lambda i: i.id)
    return c.page(
        items, lambda i: render.issue(c.world, repo, i, c.base, html=c.html), index=_issue_index
    )


def get_issue(c: Call) -> Response:
    repo, found = c.issue()
    return c.json(render.issue(c.world, repo, found, c.base, html=c.html))


def issue_comments(c: Call) -> Response:
    repo, i = c.issue()
    return c.page(i.comments, lambda x: render.issue_comment(c.world, repo, i, x, c.base, c.html))


def issue_comment(c: Call) -> Response:
    repo, i = c.issue()
    found = next((x for x in i.comments if x.id == c.params["cid"]), None)
    if found is None:
        raise ApiError(404, "Comment not found")
    return c.json(render.issue_comment(c.world, repo, i, found, c.base, c.html))


def issue_changes(c: Call) -> Response:
    repo, i = c.issue()
    return c.page(i.changes, lambda x: render.issue_change(c.world, repo, i, x, c.base, c.html))


def issue_change(c: Call) -> Response:
    repo, i = c.issue()
    found = next((x for x in i.changes if str(x.id) == c.params["chid"]), None)
    if found is None:
        raise ApiError(404, "Change not found")
    return c.json(render.issue_change(c.world, repo, i, found, c.base, c.html))


def attachments(c: Call) -> Response:
    repo, i = c.issue()
    items = sorted(i.attachments, key=lambda a: _epoch(a.created_on))  # by upload date (§3.8)
    return c.page(items, lambda a: render.attachment(c.world, repo, i, a, c.base))


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


def _named_list(kind: str) -> Callable[[Call], Response]:
    table = render.NAMED_PATHS[kind]

    def handler(c: Call) -> Response:
        repo = c.tracker()
        items = sorted(getattr(repo, table).values(), key=lambda n: n.id)
        return c.page(items, lambda n: render.named(c.world, repo, kind, n, c.base))

    return handler


def _named_one(kind: str) -> Callable[[Call], Response]:
    table = render.NAMED_PATHS[kind]

    def handler(c: Call) -> Response:
        repo = c.tracker()
        found = getattr(repo, table).get(c.params["nid"])
        if found is None:
            raise ApiError(404, f"No {kind} with id {c.params['nid']}")
        return c.json(render.named(c.world, repo, kind, found, c.base))

    return handler


def start_export(c: Call) -> Response:
    repo = c.tracker()
    uid = c.require_user()
    ws = c.world.workspaces.get(repo.workspace)
    if ws is None or not any(m.user_uuid == uid for m in ws.members):
        raise ApiError(403, "You need admin access to this repository to export its issues.")
    c.state.next_task += 1
    job = ExportJob(repo.uuid, c.state.next_task)
    c.state.export_jobs[job.task_id] = job
    location = (
        f"{c.base}/repositories/{repo.workspace}/{repo.slug}/issues/export/"
        f"{repo.slug}-issues-{job.task_id}.zip"
    )
    body = render.job_status("ACCEPTED", "Initializing", 0, 0)
    return JSONResponse(body, status_code=202, headers={"Location": location})


def poll_export(c: Call) -> Response:
    repo = c.tracker()
    match = re.fullmatch(r"(.+)-issues-(\d+)\.zip", c.params["job"])
    job = c.state.export_jobs.get(int(match.group(2))) if match else None
    if job is None or job.repo_uuid != repo.uuid:
        raise ApiError(404, "No export job has begun")
    job.polls += 1
    if job.polls <= c.config.export_polls_before_ready:
        total = len(repo.issues)
        count = total * job.polls // (c.config.export_polls_before_ready + 1)
        return c.json(render.job_status("STARTED", "Attachments", total, count), status=202)
    if job.data is None:
        job.data = export_zip(c.world, repo)
    name = c.params["job"]
    return Response(
        job.data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# pull requests


POSITION = "\0position"
INDEXED = frozenset({"id", "title", "state", "created_on", "updated_on"})


def _only_fields(q: str | None, sort: str | None) -> set[str]:
    """The fields a query and a sort read (unparseable queries: everything, i.e. no index)."""
    found = {sort.lstrip("-")} if sort else set()
    if not q:
        return found
    try:
        stack = [parse(q)]
    except BBQLError:
        return {"*"}
    while stack:
        node = stack.pop()
        if isinstance(node, BoolOp):
            stack.extend(node.operands)
        else:
            found.add(node.field)
    return found


def _pr_index(pr: PullRequest) -> Doc:
    return {
        "id": pr.id,
        "title": pr.title,
        "state": pr.state,
        "created_on": pr.created_on,
        "updated_on": pr.updated_on,
    }


def _issue_index(issue: Issue) -> Doc:
    return {
        "id": issue.id,
        "title": issue.title,
        "state": issue.state,
        "created_on": issue.created_on,
        "updated_on": issue.updated_on,
    }


def pullrequests(c: Call) -> Response:
    repo = c.repo()
    states = [s.upper() for s in c.args("state")] or ["OPEN"]
    bad = [s for s in states if s not in PR_STATE_NAMES]
    if bad:
        raise ApiError(400, f"Invalid state: {bad[0]}")
    items = sorted(
        (p for p in repo.pullrequests.values() if p.state in states), key=lambda p: -p.id
    )
    fields = c.query.get("fields")
    keep_reviewers = wants_field(fields, "values.reviewers")
    keep_participants = wants_field(fields, "values.participants")
    wanted = keep_reviewers or keep_participants

    def make(pr: PullRequest) -> Doc:
        return render.pullrequest(c.world, repo, pr, c.base, with_participants=wanted, html=c.html)

    def full(pr: PullRequest) -> Doc:
        return render.pullrequest(c.world, repo, pr, c.base, with_participants=True, html=c.html)

    def trim(doc: Doc) -> Doc:
        if not keep_reviewers:
            doc.pop("reviewers", None)
        if not keep_participants:
            doc.pop("participants", None)
        return doc

    return c.page(items, make, full=full, post=trim, index=_pr_index)


def get_pullrequest(c: Call) -> Response:
    repo, pr = c.pr()
    return c.json(
        render.pullrequest(c.world, repo, pr, c.base, with_participants=True, html=c.html)
    )


def pr_comments(c: Call) -> Response:
    repo, pr = c.pr()
    return c.page(pr.comments, lambda x: render.pr_comment(c.world, repo, pr, x, c.base, c.html))


def pr_comment(c: Call) -> Response:
    repo, pr = c.pr()
    found = render.find_comment(pr, c.params["cid"])
    if found is None:
        raise ApiError(404, "Comment not found")
    return c.json(render.pr_comment(c.world, repo, pr, found, c.base, c.html))


def _activity_key(pr: PullRequest, a: Activity) -> str:
    return f"{pr.id}|{a.kind}|{a.date}|{a.user_uuid}|{a.comment_id}"


def _live(a: Activity, comment_ids: set[int]) -> bool:
    """Whether an activity entry is shown: comment entries need their comment to exist."""
    return a.kind != "comment" or a.comment_id in comment_ids


def pr_activity(c: Call) -> Response:
    repo, pr = c.pr()
    ids = {x.id for x in pr.comments}
    entries = [a for a in reversed(pr.activity) if _live(a, ids)]
    return c.cursor(
        entries,
        lambda a: _activity_key(pr, a),
        lambda a: render.activity_entry(c.world, repo, pr, a, c.base, c.html),
        max_pagelen=MAX_ACTIVITY_PAGELEN,
        strict=True,
    )


def repo_activity(c: Call) -> Response:
    repo = c.repo()
    merged = []
    for pr in repo.pullrequests.values():
        ids = {x.id for x in pr.comments}
        merged += [
            (_epoch(a.date), pr.id, n, pr, a) for n, a in enumerate(pr.activity) if _live(a, ids)
        ]
    merged.sort(key=lambda e: e[:3], reverse=True)
    entries = [(pr, a) for *_, pr, a in merged]
    return c.cursor(
        entries,
        lambda e: _activity_key(e[0], e[1]),
        lambda e: render.activity_entry(c.world, repo, e[0], e[1], c.base, c.html),
        max_pagelen=MAX_ACTIVITY_PAGELEN,
        strict=True,
    )


def pr_commits(c: Call) -> Response:
    repo, pr = c.pr()
    hashes = [h for h in pr.commit_hashes if h in repo.commits]
    return c.cursor(
        hashes, lambda h: h, lambda h: render.commit(c.world, repo, repo.commits[h], c.base, c.html)
    )


def _statuses(c: Call, repo: Repository, full_hash: str) -> Response:
    items = repo.statuses.get(full_hash, [])
    return c.page(
        items,
        lambda s: render.commit_status(c.world, repo, full_hash, s, c.base, c.html),
        default_sort="created_on",
    )


def pr_statuses(c: Call) -> Response:
    repo, pr = c.pr()
    return _statuses(c, repo, pr.source_commit)


# commits and refs


def commits(c: Call) -> Response:
    repo = c.repo()
    include, exclude = c.args("include"), c.args("exclude")
    spec = ""
    token = c.arg("ctx")
    if token:
        spec = _decode_cursor(token)[2]
        if spec:
            stored = c.state.commit_specs.get(spec)
            if stored is None:
                raise ApiError(400, "Invalid cursor")
            include, exclude = include + stored[0], exclude + stored[1]
    elif c.form:
        form_refs = (
            [v for k, v in c.form if k == "include" and v],
            [v for k, v in c.form if k == "exclude" and v],
        )
        spec = hashlib.sha1(json.dumps(form_refs).encode()).hexdigest()[:16]
        c.state.commit_specs[spec] = form_refs
    revision = c.params.get("revision")
    if revision:
        include = [revision, *include]
    heads = [resolve_ref(repo, r) for r in include]
    if not include:
        heads = [*repo.branches.values(), *(t.target for t in repo.tags.values())]
    hidden = [resolve_ref(repo, r) for r in exclude]
    order = commit_order(repo, heads, hidden)
    return c.cursor(
        order,
        lambda h: h,
        lambda h: render.commit(c.world, repo, repo.commits[h], c.base, c.html),
        spec=spec,
    )


def _commit_hash(c: Call, repo: Repository) -> str:
    key = c.params["hash"]
    if key in repo.commits:
        return key
    if len(key) >= 7 and re.fullmatch(r"[0-9a-fA-F]+", key):
        matches = [h for h in repo.commits if h.startswith(key.lower())]
        if len(matches) == 1:
            return matches[0]
    raise ApiError(404, f"Commit not found: {key}")


def get_commit(c: Call) -> Response:
    repo = c.repo()
    found = repo.commits[_commit_hash(c, repo)]
    return c.json(render.commit(c.world, repo, found, c.base, c.html))


def commit_statuses(c: Call) -> Response:
    repo = c.repo()
    return _statuses(c, repo, _commit_hash(c, repo))


def branches(c: Call) -> Response:
    repo = c.repo()
    names = sorted(repo.branches)
    return c.page(names, lambda n: render.branch(c.world, repo, n, c.base, c.html))


def get_branch(c: Call) -> Response:
    repo = c.repo()
    name = c.params["name"]
    if name not in repo.branches:
        raise ApiError(404, f"Branch not found: {name}")
    return c.json(render.branch(c.world, repo, name, c.base, c.html))


def tags(c: Call) -> Response:
    repo = c.repo()
    items = [repo.tags[n] for n in sorted(repo.tags)]
    return c.page(items, lambda t: render.tag(c.world, repo, t, c.base, c.html))


def get_tag(c: Call) -> Response:
    repo = c.repo()
    found = repo.tags.get(c.params["name"])
    if found is None:
        raise ApiError(404, f"Tag not found: {c.params['name']}")
    return c.json(render.tag(c.world, repo, found, c.base, c.html))


# --- wiring ------------------------------------------------------------------------------------


def _endpoint(handler: Callable[[Call], Response], anonymous: bool = False) -> Callable:
    """Wrap a handler: read the body, authenticate, take the world lock, map errors."""

    async def endpoint(request: Request) -> Response:
        form: list[tuple[str, str]] = []
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", "replace")
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
    ("/pullrequests", pullrequests, ("GET",)),
    ("/pullrequests/activity", repo_activity, ("GET",)),
    ("/pullrequests/{pid:int}", get_pullrequest, ("GET",)),
    ("/pullrequests/{pid:int}/comments", pr_comments, ("GET",)),
    ("/pullrequests/{pid:int}/comments/{cid:int}", pr_comment, ("GET",)),
    ("/pullrequests/{pid:int}/activity", pr_activity, ("GET",)),
    ("/pullrequests/{pid:int}/commits", pr_commits, ("GET",)),
    ("/pullrequests/{pid:int}/statuses", pr_statuses, ("GET",)),
    ("/commits", commits, ("GET", "POST")),
    ("/commits/{revision:path}", commits, ("GET", "POST")),
    ("/commit/{hash}", get_commit, ("GET",)),
    ("/commit/{hash}/statuses", commit_statuses, ("GET",)),
    ("/refs/branches", branches, ("GET",)),
    ("/refs/branches/{name:path}", get_branch, ("GET",)),
    ("/refs/tags", tags, ("GET",)),
    ("/refs/tags/{name:path}", get_tag, ("GET",)),
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
    app.state.world = world
    app.state.config = config
    app.state.faults = config.faults
    app.state.lock = threading.RLock()
    app.state.request_log = []
    app.state.export_jobs = {}
    app.state.next_task = 0
    app.state.one_time = {}
    app.state.commit_specs = {}
    return app
