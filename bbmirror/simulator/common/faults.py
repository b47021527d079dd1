"""Fault switches for the simulator: latency, rate limits, 5xx/555/429 and dropped connections.

``FaultMiddleware`` is pure ASGI and reads the live ``Faults`` object on every request, so tests
flip switches at run time (``app.state.faults``). A dropped connection closes the socket without
a response under uvicorn; in-process it raises ``ConnectionDropped``, which
``SimulatorTransport`` turns into ``httpx.RemoteProtocolError`` (what httpx raises for a real
drop), so the client sees the same failure either way.

Choices (reference §6.3 documents no rate-limit behaviour; landscape.md §5 has the rest):

- ``rate_limit`` counts requests per credential in a rolling window (default one hour); a
  refused request does not count. ``Retry-After`` (seconds until the oldest counted request
  leaves the window) only when ``retry_after`` is on: real Cloud 429s historically had none.
- ``bucket`` turns ``rate_limit`` into a token bucket: a burst of ``rate_limit`` requests,
  refilled evenly over ``window`` (a steady 200 a minute, say), the shape under which a client
  that backs off per request instead of globally draws a 429 on most of its attempts.
- ``rate_limit_headers`` sends ``X-RateLimit-Limit`` (the limit, 1000 when ``rate_limit`` is
  None), ``X-RateLimit-Resource: api`` and ``X-RateLimit-NearLimit`` (``true`` when fewer than
  20% of the window remain) on Bearer (access-token) requests only, as Atlassian documents.
- Injected faults draw from one seeded ``random.Random``, so a seed gives the same sequence.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("500", "502", "503", "555", "429", "drop")  # the default mix: all retryable
# "garbage": a 200 whose body is truncated JSON (a broken proxy); clients retry it like a 5xx.
ALL_FAULT_KINDS = (*FAULT_KINDS, "garbage")
NEAR_LIMIT_FRACTION = 0.2
DEFAULT_LIMIT = 1000  # Cloud's documented hourly allowance for repository data
CREDENTIAL_KEY = "bbmirror.credential"  # scope key: the credential label (never the secret)
SCHEME_KEY = "bbmirror.scheme"  # scope key: "bearer" | "basic" | "anonymous" | "invalid"
RAW_SEND_KEY = "bbmirror.raw_send"  # scope key: the server's own ``send`` (to reach its socket)
RECORD_KEY = "bbmirror.record"  # scope key: log this request with a status (0: no response)

MESSAGES = {
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    555: "The request timed out. Please retry the request later.",
    429: "Rate limit for this resource has been exceeded",
}


class ConnectionDropped(Exception):
    """Raised in-process where a real server would close the socket without a response."""


@dataclass
class Faults:
    """Run-time switches; the counters record what the middleware did (for tests)."""

    latency: float = 0.0
    jitter: float = 0.0
    rate_limit: int | None = None
    retry_after: bool = False
    rate_limit_headers: bool = False
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    failing_paths: tuple[str, ...] = ()  # path prefixes that always fail (a stuck child)
    failing_status: int = 500  # what they answer (e.g. 404: a parent deleted meanwhile)
    seed: int = 0
    window: float = 3600.0
    bucket: bool = False
    clock: Callable[[], float] = time.monotonic
    counters: Counter = field(default_factory=Counter, repr=False)
    delays: list[float] = field(default_factory=list, repr=False)
    rng: random.Random = field(init=False, repr=False)
    hits: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    tokens: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.fault_kinds) - set(ALL_FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.rng = random.Random(self.seed)

    def reset(self) -> None:
        """Forget counters, delays and rate-limit windows; reseed the generator."""
        self.counters.clear()
        self.delays.clear()
        self.hits.clear()
        self.tokens.clear()
        self.rng = random.Random(self.seed)

    def delay(self) -> float:
        """The latency to add to the next request (0 when off)."""
        if self.latency <= 0 and self.jitter <= 0:
            return 0.0
        return self.latency + (self.rng.uniform(0, self.jitter) if self.jitter > 0 else 0.0)

    def admit(self, credential: str) -> float | None:
        """Count a request against the rolling window; the seconds to wait when refused."""
        if self.rate_limit is None:
            return None
        now = self.clock()
        if self.bucket:
            return self._take(credential, now, self.rate_limit)
        window = self.hits.setdefault(credential, deque())
        while window and window[0] <= now - self.window:
            window.popleft()
        if len(window) >= self.rate_limit:
            return (window[0] + self.window - now) if window else self.window
        window.append(now)
        return None

    def _take(self, credential: str, now: float, capacity: int) -> float | None:
        """Token bucket: take one token, or say when the next one is back."""
        fill = capacity / self.window
        tokens, last = self.tokens.get(credential, (float(capacity), now))
        tokens = min(float(capacity), tokens + (now - last) * fill)
        if tokens >= 1:
            self.tokens[credential] = (tokens - 1, now)
            return None
        self.tokens[credential] = (tokens, now)
        return (1 - tokens) / fill

    def remaining(self, credential: str) -> int:
        """Requests left in the credential's window (for ``X-RateLimit-NearLimit``)."""
        limit = self.rate_limit if self.rate_limit is not None else DEFAULT_LIMIT
        return max(0, limit - len(self.hits.get(credential, ())))

    def pick_fault(self) -> str | None:
        """Draw whether this request fails, and how."""
        if self.fault_rate <= 0 or not self.fault_kinds:
            return None
        if self.rng.random() >= self.fault_rate:
            return None
        return self.rng.choice(list(self.fault_kinds))


def _headers(pairs: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in pairs.items()]


async def _send_json(send: Callable, status: int, body: dict, headers: dict[str, str]) -> None:
    await _send_raw(send, status, json.dumps(body).encode(), headers)


class FaultMiddleware:
    """Pure ASGI middleware applying the ``Faults`` returned by ``get_faults`` per request."""

    def __init__(self, app: Callable, get_faults: Callable[[], Faults]) -> None:
        self.app = app
        self.get_faults = get_faults

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults = self.get_faults()
        credential = scope.get(CREDENTIAL_KEY, "anonymous")
        pause = faults.delay()
        if pause > 0:
            faults.counters["delayed"] += 1
            faults.delays.append(pause)
            await asyncio.sleep(pause)
        wait = faults.admit(credential)
        if wait is not None:
            faults.counters["rate_limited"] += 1
            extra = dict(self._rate_headers(faults, scope, credential))
            if faults.retry_after:
                extra["Retry-After"] = str(max(1, math.ceil(wait)))
            await _send_json(send, 429, _error(429), extra)
            return
        rl_headers = self._rate_headers(faults, scope, credential)
        kind = faults.pick_fault()
        if faults.failing_paths and scope["path"].startswith(faults.failing_paths):
            kind = str(faults.failing_status)
        if kind is not None:
            faults.counters[kind] += 1
            if kind == "drop":
                await self._drop(scope, receive)
                return
            if kind == "garbage":
                await _send_raw(send, 200, b'{"values": [{"id": 1, "tit', rl_headers)
                return
            extra = {}
            if kind == "429" and faults.retry_after:
                extra["Retry-After"] = "1"
            await _send_json(send, int(kind), _error(int(kind)), {**rl_headers, **extra})
            return
        if not rl_headers:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *_headers(rl_headers)],
                }
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _rate_headers(faults: Faults, scope: dict, credential: str) -> dict[str, str]:
        if not faults.rate_limit_headers or scope.get(SCHEME_KEY) != "bearer":
            return {}
        limit = faults.rate_limit if faults.rate_limit is not None else DEFAULT_LIMIT
        near = faults.remaining(credential) < limit * NEAR_LIMIT_FRACTION
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Resource": "api",
            "X-RateLimit-NearLimit": "true" if near else "false",
        }

    @staticmethod
    async def _drop(scope: dict, receive: Callable) -> None:
        """Close the client's socket without a response, or raise when there is none."""
        record = scope.get(RECORD_KEY)
        if record is not None:
            record(0)
        raw_send = scope.get(RAW_SEND_KEY)
        transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
        if transport is None:
            raise ConnectionDropped("connection dropped by the simulator")
        transport.close()
        # Wait for the server to notice, so it does not try to answer on a closed socket.
        for _ in range(100):
            message = await receive()
            if message["type"] == "http.disconnect":
                break


def _error(status: int) -> dict:
    return {"type": "error", "error": {"message": MESSAGES.get(status, "Error")}}


async def _send_raw(send: Callable, status: int, body: bytes, headers: dict[str, str]) -> None:
    """A response whose body is exactly ``body`` (e.g. broken JSON under a JSON type)."""
    pairs = {"content-type": "application/json", "content-length": str(len(body)), **headers}
    await send({"type": "http.response.start", "status": status, "headers": _headers(pairs)})
    await send({"type": "http.response.body", "body": body})
