"""The webhook endpoint: ``POST /-/webhooks/<source>``, a small Starlette app.

Answers (Bitbucket only looks at the status; the body says why, for people):

* 404: no such source; 413: a body over ``MAX_BODY``; 401: a missing or wrong
  ``X-Hub-Signature``, or a source without a secret (nothing is read or changed);
* 400: no ``X-Event-Key``, a body that is not JSON or lacks what the event names;
* 200: a redelivery (same ``X-Request-UUID`` / ``X-Request-Id``): already taken;
* 202: taken (queued, coalesced or folded into a repository refresh), or an event we do not
  act on (ignored, and recorded).

Why Starlette beside Datasette rather than Datasette's ``register_routes`` hook: the receiver
needs the configured sources, their secrets and a worker that writes, which a plugin loaded
into every ``datasette`` process would not have; Datasette's POST handling (CSRF tokens,
actor and permission checks) is built for browsers, not for Bitbucket; and ``schedule
--webhooks`` runs no Datasette at all. The same app serves both, and
``with_webhooks`` puts it on Datasette's address under ``/-/webhooks/``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bbmirror.webhooks.events import Malformed, target
from bbmirror.webhooks.verify import HEADER, verified
from bbmirror.webhooks.worker import Hub

PREFIX = "/-/webhooks/"
MAX_BODY = 2 * 1024 * 1024  # bytes; Bitbucket truncates push payloads well below this


def _answer(status: int, outcome: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"outcome": outcome, **extra}, status_code=status)


async def deliver(request: Request) -> JSONResponse:
    """Verify, read and queue one delivery."""
    hub: Hub = request.app.state.hub
    name = request.path_params["source"]
    source = hub.sources.get(name)
    if source is None:
        return _answer(404, "no such source")
    hub.start()  # the worker saves the delivery log and refreshes (idempotent)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return _answer(413, "too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _answer(413, "too large")
    event = request.headers.get("x-event-key", "")
    if not verified(body, request.headers.get(HEADER), hub.secrets.get(name)):
        hub.deliveries.record(name, event, "rejected")
        return _answer(401, "rejected", reason="missing or wrong X-Hub-Signature")
    delivery = request.headers.get("x-request-uuid") or request.headers.get("x-request-id")
    if hub.deliveries.seen(name, delivery):
        hub.deliveries.record(name, event, "redelivered")
        return _answer(200, "redelivered")
    if not event:
        hub.deliveries.record(name, "", "malformed")
        return _answer(400, "malformed", reason="no X-Event-Key header")
    try:
        wanted = target(name, source.kind, event, json.loads(body))
    except (ValueError, RecursionError) as exc:  # Malformed is a ValueError, like bad JSON
        hub.deliveries.record(name, event, "malformed")
        reason = str(exc) if isinstance(exc, Malformed) else "the body is not JSON"
        return _answer(400, "malformed", reason=reason)
    if wanted is None:
        hub.deliveries.record(name, event, "ignored", delivery)
        return _answer(202, "ignored")
    outcome = hub.queue.put(wanted)
    hub.deliveries.record(name, event, outcome, delivery)
    return _answer(202, outcome)


def create_app(hub: Hub) -> Starlette:
    """The receiver; its lifespan starts and stops the hub's worker."""
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    routes = [Route(PREFIX + "{source}", deliver, methods=["POST"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    return app


def with_webhooks(app: Any, hooks: Any) -> Any:
    """One ASGI app: ``/-/webhooks/...`` (and the lifespan) to ``hooks``, the rest to ``app``."""

    async def dispatch(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" or (
            scope["type"] == "http" and scope.get("path", "").startswith(PREFIX)
        ):
            await hooks(scope, receive, send)
            return
        await app(scope, receive, send)

    return dispatch
