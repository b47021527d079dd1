"""One Cloud API request: the app's config, errors, cursors, and the Call helper handlers use."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from bbmirror.simulator.cloud import render
from bbmirror.simulator.cloud.bbql import compile_query, sort_items
from bbmirror.simulator.cloud.bbql_parse import BBQLError, BoolOp, parse
from bbmirror.simulator.cloud.fields import apply_fields
from bbmirror.simulator.cloud.world import (
    Issue,
    Membership,
    PullRequest,
    Repository,
    Workspace,
    World,
)
from bbmirror.simulator.common.app import (
    SimulatorBase,
    Viewer,
)
from bbmirror.simulator.common.faults import Faults
from bbmirror.simulator.common.graph import log_order
from bbmirror.simulator.common.responses import JSONResponse

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
    export_fails: bool = False  # True: a finished export job reports FAILURE (no zip)
    repository_admins: frozenset[str] = frozenset()  # user uuids admin of every repository
    legacy_workspace_apis: bool = False  # True: /workspaces lists instead of 410
    issue_tracker_removed: bool = False  # True: every issue endpoint answers 410 (2026-08-20)
    # Token or Basic email -> the scopes it was given (cloud/scopes.py); absent: unrestricted
    scopes: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class ExportJob:
    repo_uuid: str
    task_id: int
    attachments: bool = False  # include_attachments: the files ride in the zip
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


def resolve_ref(repo: Repository, ref: str) -> str:
    """A branch, tag, full hash or unique hash prefix (≥ 4) → full hash; 404 otherwise."""
    if ref in repo.branches:
        return repo.branches[ref]
    if ref in repo.tags:
        return repo.tags[ref].target
    return commit_by_prefix(repo, ref, 4)


def commit_by_prefix(repo: Repository, ref: str, shortest: int) -> str:
    """A full hash or a unique hex prefix (≥ ``shortest``) → full hash; 404 otherwise.

    One rule for every endpoint that takes a commit; only the shortest prefix differs.
    """
    if ref in repo.commits:
        return ref
    if len(ref) >= shortest and re.fullmatch(r"[0-9a-fA-F]+", ref):
        matches = [h for h in repo.commits if h.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
    raise ApiError(404, f"Commit not found: {ref}")


def commit_order(repo: Repository, include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """``git log include ^exclude`` newest first, children always before their parents."""
    return log_order(repo.commits, include, exclude, lambda h: _epoch(repo.commits[h].date))


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
