"""A lying proxy for tests: the simulator behind an ASGI layer that kills the run, fails, stalls
or rewrites answers, as hostile or broken servers (and SIGKILL) do."""

from __future__ import annotations

import asyncio
import json

from mirror import Harness


class Killed(BaseException):
    """The process dies here: nothing after this instant runs (like SIGKILL, but in-process)."""


class Lying:
    """An ASGI proxy in front of the simulator: ``rule(scope)`` may kill the run ("kill"),
    answer with an error status (an int), answer late (a float: seconds), rewrite the
    simulator's JSON answer (a function), or let it answer honestly (None). Past ``runaway``
    requests it kills the run."""

    def __init__(self, app, rule=None, runaway: int = 1000) -> None:
        self.app = app
        self.rule = rule
        self.state = app.state
        self.requests = 0
        self.runaway = runaway

    async def __call__(self, scope, receive, send) -> None:
        self.requests += 1
        if self.requests > self.runaway:
            raise Killed(f"runaway: {self.requests} requests")
        verdict = self.rule(scope) if self.rule and scope["type"] == "http" else None
        if verdict == "kill":
            raise Killed(scope["path"])
        if isinstance(verdict, int):
            await _answer(send, verdict, b'{"errors": [{"message": "injected"}]}', [])
            return
        if isinstance(verdict, float):  # a slow answer
            await asyncio.sleep(verdict)
            verdict = None
        if callable(verdict):
            await self._rewritten(scope, receive, send, verdict)
            return
        await self.app(scope, receive, send)

    async def _rewritten(self, scope, receive, send, rewrite) -> None:
        sent: dict = {"body": b""}

        async def keep(message) -> None:
            if message["type"] == "http.response.start":
                sent["start"] = message
            else:
                sent["body"] += message.get("body", b"")

        await self.app(scope, receive, keep)
        start, body = sent["start"], sent["body"]
        if start["status"] == 200:
            body = json.dumps(rewrite(scope, json.loads(body))).encode()
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        await _answer(send, start["status"], body, headers)


async def _answer(send, status: int, body: bytes, headers: list) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def own_url(scope, **extra) -> str:
    query = scope["query_string"].decode()
    query += "".join(f"&{k}={v}" for k, v in extra.items())
    return f"http://bitbucket.test{scope['path']}?{query}"


def lie_to(harness: Harness, rule) -> Lying:
    """Put a lying proxy between the harness's client and its simulator."""
    proxy = Lying(harness.app, rule)
    harness.app = proxy
    return proxy
