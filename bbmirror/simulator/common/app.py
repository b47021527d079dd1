"""The one ASGI base both simulators share: authentication, request log, faults, dates.

``SimulatorBase`` folds a trailing slash, authenticates once (``authenticate``, never keeping
the secret), records every request in ``state.request_log`` (``RequestLogMiddleware``), runs
the fault layer (``faults.FaultMiddleware``) and adds a ``Date`` header from the world's clock.
A flavour says what its clock reads (``now``) and may reshape what is sent (``reshape``).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette

from bbmirror.simulator.common.faults import (
    CREDENTIAL_KEY,
    RAW_SEND_KEY,
    RECORD_KEY,
    SCHEME_KEY,
    FaultMiddleware,
)

VIEWER_KEY = "bbmirror.viewer"


@dataclass
class RequestRecord:
    """One served request; ``credential`` is a label ("token#1"), never the secret."""

    method: str
    path: str
    query: str
    status: int
    credential: str


@dataclass
class Viewer:
    """Who is asking: a user uuid (None when anonymous or invalid) and a printable label."""

    uuid: str | None
    label: str
    scheme: str  # bearer | basic | anonymous | invalid
    key: str = field(default="", repr=False)  # the token or email, to look its scopes up


def authenticate(authorization: str | None, config: Any) -> Viewer:
    """Map an ``Authorization`` header to a viewer without ever keeping the secret."""
    if not authorization:
        return Viewer(None, "anonymous", "anonymous")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer":
        for index, (token, uuid) in enumerate(config.tokens.items(), start=1):
            if secrets.compare_digest(token.encode(), credential.encode()):
                return Viewer(uuid, f"token#{index}", "bearer", token)
        return Viewer(None, "token#invalid", "invalid")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return Viewer(None, "basic:invalid", "invalid")
        email, _, secret = decoded.partition(":")
        uuid = config.basic.get((email, secret))
        if uuid is not None:
            return Viewer(uuid, f"basic:{email}", "basic", email)
        return Viewer(None, "basic:invalid", "invalid")
    return Viewer(None, "invalid", "invalid")


def _redact(query: str) -> str:
    """The query string with any ``access_token`` value masked (tokens never reach the log)."""
    if "access_token" not in query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if k == "access_token" else v) for k, v in pairs])


class RequestLogMiddleware:
    """Outermost layer: authenticates once, labels the scope, records every request."""

    def __init__(self, app: Callable, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization")
        viewer = authenticate(auth.decode("latin-1") if auth else None, self.state.config)
        scope[VIEWER_KEY] = viewer
        scope[CREDENTIAL_KEY] = viewer.label
        scope[SCHEME_KEY] = viewer.scheme
        recorded = False

        def record(status: int) -> None:
            # Logged before the response leaves, so a client that got it can read the entry.
            nonlocal recorded
            if not recorded:
                recorded = True
                query = scope.get("query_string", b"").decode("latin-1")
                self.state.request_log.append(
                    RequestRecord(
                        scope["method"], scope["path"], _redact(query), status, viewer.label
                    )
                )

        scope[RECORD_KEY] = record

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            record(0)  # no response: a dropped connection or a crash


class SimulatorBase(Starlette):
    """Starlette plus the pure-ASGI outer layers (request log, faults) and slash folding."""

    def attach(self, world: Any, config: Any) -> None:
        """Serve ``world``: its config and faults, the world lock, an empty request log."""
        self.state.world = world
        self.state.config = config
        self.state.faults = config.faults
        self.state.lock = threading.RLock()
        self.state.request_log = []

    def now(self) -> datetime:
        """The world's clock, for the ``Date`` header."""
        raise NotImplementedError

    def reshape(self, send: Callable) -> Callable:
        """``send`` as the flavour wants it (e.g. fault bodies in its error shape)."""
        return send

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope = dict(scope)
        scope[RAW_SEND_KEY] = send
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):  # accept a trailing slash everywhere (§7.3)
            scope["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        inner = partial(Starlette.__call__, self)
        outer = RequestLogMiddleware(FaultMiddleware(inner, lambda: self.state.faults), self.state)
        await outer(scope, receive, self.reshape(dated(send, self.now)))


def dated(send: Callable, clock: Callable[[], datetime]) -> Callable:
    """``send`` adding a ``Date`` header from the world's clock, as every real server does."""

    async def send_dated(message: dict) -> None:
        if message["type"] == "http.response.start":
            stamp = email.utils.format_datetime(clock().astimezone(UTC), usegmt=True)
            headers = [*message.get("headers", []), (b"date", stamp.encode())]
            message = {**message, "headers": headers}
        await send(message)

    return send_dated
