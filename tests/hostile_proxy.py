"""A lying proxy in front of the simulator: honest everywhere but on the paths it targets.

`HostileProxy` is a pure ASGI app wrapping a simulator app. A request whose path matches
``target`` (a regular expression, searched) gets the lie named by ``lie``; everything else
reaches the simulator untouched. Lies that rewrite an answer run the real request first, so a
lying page still carries the world's values. ``budget`` bounds how many lies are told, so a
client that would loop for ever still ends (and the test can say what it failed to notice).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

LIES = (
    "self_next",  # `next` points back to the page just served
    "foreign_next",  # `next` points to another host
    "creep",  # Data Center: nextPageStart = start + 1, never the last page
    "trickle",  # one byte every `trickle_every` seconds, for ever
    "hang",  # the response never starts
    "huge",  # a body of `huge_bytes` bytes (chunked, no Content-Length)
    "truncate",  # the real body cut in half, every time
    "echo_auth",  # a 500 whose error message echoes the Authorization header
    "block",  # a 429 asking to wait a day (Retry-After: 86400)
    "poison_time",  # the first value's updated_on / updatedDate is "yesterday"
    "wrong_type",  # the first value's title is an object
)


class HostileProxy:
    """Serve ``inner``; lie to requests whose path matches ``target``."""

    def __init__(
        self,
        inner: Callable,
        lie: str,
        target: str,
        *,
        budget: int = 200,
        trickle_every: float = 0.05,
        huge_bytes: int = 4 << 20,
    ) -> None:
        if lie not in LIES:
            raise ValueError(f"unknown lie {lie!r}; one of {LIES}")
        self.inner = inner
        self.state = inner.state  # the harness reads faults and the request log through it
        self.lie = lie
        self.target = re.compile(target)
        self.budget = budget
        self.trickle_every = trickle_every
        self.huge_bytes = huge_bytes
        self.told = 0  # lies told
        self.hosts: list[str] = []  # every Host header seen, to prove where requests went

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        self.hosts.append(headers.get("host", ""))
        if self.told >= self.budget or not self.target.search(scope["path"]):
            await self.inner(scope, receive, send)
            return
        self.told += 1
        if self.lie == "hang":
            await asyncio.sleep(3600)
        elif self.lie == "trickle":
            await _start(send, 200, {})
            for _ in range(100_000):
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                await asyncio.sleep(self.trickle_every)
        elif self.lie == "huge":
            await _start(send, 200, {})
            chunk = b" " * 65536
            for _ in range(self.huge_bytes // len(chunk)):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b'{"values": []}'})
        elif self.lie == "block":
            body = json.dumps({"type": "error", "error": {"message": "Rate limit exceeded"}})
            await _start(send, 429, {"retry-after": "86400", "content-length": str(len(body))})
            await send({"type": "http.response.body", "body": body.encode()})
        elif self.lie == "echo_auth":
            echoed = headers.get("authorization", "")
            body = {
                "type": "error",
                "error": {"message": f"upstream failed; Authorization: {echoed}"},
            }
            await _respond(send, 500, json.dumps(body).encode())
        else:
            status, body = await _real(self.inner, scope, receive)
            await _respond(send, status, self._rewrite(scope, status, body))

    def _rewrite(self, scope: dict, status: int, body: bytes) -> bytes:
        if self.lie == "truncate":
            return body[: len(body) // 2]
        if status != 200:
            return body
        page: dict[str, Any] = json.loads(body)
        here = _url(scope)
        if self.lie == "self_next":
            page["next"] = here
        elif self.lie == "foreign_next":
            page["next"] = "http://evil.example/steal?page=2"
        elif self.lie == "creep":
            query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if p)
            page["isLastPage"] = False
            page["nextPageStart"] = int(query.get("start", 0)) + 1
        elif self.lie in ("poison_time", "wrong_type") and page.get("values"):
            first = page["values"][0]
            if self.lie == "wrong_type":
                first["title"] = {"not": "a title"}
            else:
                first["updatedDate" if "updatedDate" in first else "updated_on"] = "yesterday"
        return json.dumps(page).encode()


def _url(scope: dict) -> str:
    headers = dict(scope.get("headers", []))
    host = headers.get(b"host", b"").decode()
    query = scope["query_string"].decode()
    return f"{scope['scheme']}://{host}{scope['path']}" + (f"?{query}" if query else "")


async def _real(inner: Callable, scope: dict, receive: Callable) -> tuple[int, bytes]:
    """Run the simulator for this request and collect its answer."""
    answer: dict[str, Any] = {"status": 500, "body": b""}

    async def collect(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await inner(scope, receive, collect)
    return answer["status"], answer["body"]


async def _start(send: Callable, status: int, headers: dict[str, str]) -> None:
    pairs = [(b"content-type", b"application/json")]
    pairs += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})


async def _respond(send: Callable, status: int, body: bytes) -> None:
    await _start(send, status, {"content-length": str(len(body))})
    await send({"type": "http.response.body", "body": body})
