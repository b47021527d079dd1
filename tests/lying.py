"""A lying proxy for tests: the simulator behind an ASGI layer that kills the run, fails, stalls,
rewrites answers or tells one of the named lies of hostile or broken servers (and SIGKILL).

``Lying`` asks its ``rule`` about each request; ``hostile`` makes one that tells a named lie
(``LIES``) on the paths it targets and is honest everywhere else. Lies that rewrite an answer
run the real request first, so a lying page still carries the world's values.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from mirror import Harness

INJECTED = b'{"errors": [{"message": "injected"}]}'
TRICKLE_EVERY = 0.05  # seconds between the bytes of a trickle
HUGE_BYTES = 4 << 20  # the size of a huge body


class Killed(BaseException):
    """The process dies here: nothing after this instant runs (like SIGKILL, but in-process)."""


class Lying:
    """An ASGI proxy in front of the simulator. ``rule(scope)`` may kill the run ("kill"),
    answer with an error status (an int), answer late (a float: seconds), rewrite the
    simulator's JSON answer (a function ``(scope, page) -> page``), answer by itself (a
    coroutine function ``(scope, receive, send, app)``), or let the simulator answer honestly
    (None). It tells ``budget`` lies at the most, then is honest; past ``runaway`` requests it
    kills the run. ``told`` counts the lies told, ``hosts`` every Host header it saw."""

    def __init__(self, app, rule=None, runaway: int = 1000, budget: int = 10**9) -> None:
        self.app = app
        self.rule = rule
        self.state = app.state  # the harness reads faults and the request log through it
        self.requests = 0
        self.runaway = runaway
        self.budget = budget
        self.told = 0
        self.hosts: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.requests += 1
        if self.requests > self.runaway:
            raise Killed(f"runaway: {self.requests} requests")
        if scope["type"] == "http":
            self.hosts.append(_header(scope, "host"))
        asked = self.rule and scope["type"] == "http" and self.told < self.budget
        verdict = self.rule(scope) if asked else None
        if verdict is None:
            await self.app(scope, receive, send)
            return
        self.told += 1
        if verdict == "kill":
            raise Killed(scope["path"])
        if isinstance(verdict, int):
            await answer(send, verdict, INJECTED)
        elif isinstance(verdict, float):  # a slow answer
            await asyncio.sleep(verdict)
            await self.app(scope, receive, send)
        elif inspect.iscoroutinefunction(verdict):
            await verdict(scope, receive, send, self.app)
        else:
            status, headers, body = await _real(self.app, scope, receive)
            if status == 200:
                body = json.dumps(verdict(scope, json.loads(body))).encode()
            await answer(send, status, body, [(k, v) for k, v in headers if k != b"content-length"])


async def _real(app, scope, receive) -> tuple[int, list, bytes]:
    """Run the simulator for this request and collect its answer."""
    sent: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

    async def keep(message) -> None:
        if message["type"] == "http.response.start":
            sent["status"], sent["headers"] = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    await app(scope, receive, keep)
    return sent["status"], sent["headers"], sent["body"]


async def _start(send, status: int, headers: list) -> None:
    if not any(k == b"content-type" for k, _ in headers):
        headers = [*headers, (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def answer(send, status: int, body: bytes, headers: list = ()) -> None:
    """Answer with one body of known length (JSON unless ``headers`` say otherwise)."""
    await _start(send, status, [*headers, (b"content-length", str(len(body)).encode())])
    await send({"type": "http.response.body", "body": body})


def _header(scope, name: str) -> str:
    return dict(scope.get("headers", [])).get(name.encode(), b"").decode()


def own_url(scope, **extra) -> str:
    """The URL this request asked for (``extra`` added to its query)."""
    query = scope["query_string"].decode()
    query += "".join(f"&{k}={v}" for k, v in extra.items())
    url = f"{scope['scheme']}://{_header(scope, 'host')}{scope['path']}"
    return url + (f"?{query}" if query else "")


def lie_to(harness: Harness, rule) -> Lying:
    """Put a lying proxy between the harness's client and its simulator."""
    proxy = Lying(harness.app, rule)
    harness.app = proxy
    return proxy


# -- the named lies of hostile servers -------------------------------------------------------


async def _trickle(scope, receive, send, app) -> None:
    await _start(send, 200, [])
    for _ in range(100_000):
        await send({"type": "http.response.body", "body": b" ", "more_body": True})
        await asyncio.sleep(TRICKLE_EVERY)


async def _huge(scope, receive, send, app) -> None:
    await _start(send, 200, [])
    chunk = b" " * 65536
    for _ in range(HUGE_BYTES // len(chunk)):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b'{"values": []}'})


async def _truncate(scope, receive, send, app) -> None:
    status, _, body = await _real(app, scope, receive)
    await answer(send, status, body[: len(body) // 2])


async def _echo_auth(scope, receive, send, app) -> None:
    message = f"upstream failed; Authorization: {_header(scope, 'authorization')}"
    await answer(send, 500, json.dumps({"type": "error", "error": {"message": message}}).encode())


async def _block(scope, receive, send, app) -> None:
    body = json.dumps({"type": "error", "error": {"message": "Rate limit exceeded"}}).encode()
    await answer(send, 429, body, [(b"retry-after", b"86400")])


def _creep(scope, page: dict) -> dict:
    start = int(dict(parse_qsl(scope["query_string"].decode())).get("start", 0))
    return {**page, "isLastPage": False, "nextPageStart": start + 1}


def _first_value(change: Callable[[dict], None]):
    def rewrite(scope, page: dict) -> dict:
        if page.get("values"):
            change(page["values"][0])
        return page

    return rewrite


def _poison_time(first: dict) -> None:
    first["updatedDate" if "updatedDate" in first else "updated_on"] = "yesterday"


LIES: dict[str, Any] = {
    "self_next": lambda scope, page: {**page, "next": own_url(scope)},  # the page just served
    "foreign_next": lambda scope, page: {**page, "next": "http://evil.example/steal?page=2"},
    "creep": _creep,  # Data Center: nextPageStart = start + 1, never the last page
    "trickle": _trickle,  # one byte every TRICKLE_EVERY seconds, for ever
    "hang": 3600.0,  # the response does not start within the hour
    "huge": _huge,  # a body of HUGE_BYTES bytes (chunked, no Content-Length)
    "truncate": _truncate,  # the real body cut in half, every time
    "echo_auth": _echo_auth,  # a 500 whose error message echoes the Authorization header
    "block": _block,  # a 429 asking to wait a day (Retry-After: 86400)
    "poison_time": _first_value(_poison_time),  # the first updated_on / updatedDate: "yesterday"
    "wrong_type": _first_value(lambda first: first.update(title={"not": "a title"})),
}


def hostile(app, lie: str, target: str, *, budget: int = 200) -> Lying:
    """A proxy telling ``lie`` to the requests whose path matches ``target`` (a regular
    expression, searched), ``budget`` times at the most: a client that would loop for ever
    still ends, and the test can say what it failed to notice."""
    if lie not in LIES:
        raise ValueError(f"unknown lie {lie!r}; one of {tuple(LIES)}")
    told, path = LIES[lie], re.compile(target)
    return Lying(app, lambda scope: told if path.search(scope["path"]) else None, 10**9, budget)
