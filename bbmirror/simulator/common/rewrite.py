"""Edit the JSON a simulator sends, for tests of what a broken or hostile server may answer.

``Rewrite(app, edit)`` wraps either simulator app: every 200 JSON body passes through
``edit(path, document)`` before it is sent, so a test can put a wrong-type value, a string list
entry or a lone surrogate where Bitbucket's own rendering never would. What orjson cannot encode
(integers beyond 64 bits, lone surrogates, nesting deeper than 255) goes out through the
standard library, as a real server's JSON library would send it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import orjson

Edit = Callable[[str, Any], Any]


def dumps(document: Any) -> bytes:
    """Compact JSON of anything JSON can express, however deep (lone surrogates escaped)."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20_000))
        try:
            return json.dumps(document, separators=(",", ":")).encode()
        finally:
            sys.setrecursionlimit(limit)


class Rewrite:
    """Pure-ASGI wrapper that edits JSON response bodies; ``state`` is the wrapped app's."""

    def __init__(self, app: Any, edit: Edit) -> None:
        self.app = app
        self.edit = edit

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            kind = dict(start.get("headers", [])).get(b"content-type", b"")
            if start.get("status") == 200 and b"json" in kind and body:
                body = dumps(self.edit(scope["path"], orjson.loads(body)))
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)
