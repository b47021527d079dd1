"""A token pool: several credentials per source, each with its own budget and its own pause.

Bitbucket counts requests per account (an access token is an account of its own), so the
budgets of several credentials add up. Each request takes the credential that is ready
soonest (ties: the one that spent least of its rolling hour, one not near its limit first);
a 429, a huge Retry-After or ``X-RateLimit-Remaining: 0`` pauses that credential alone, and
the requests waiting for it go to the others. All credentials of a source must see the same
data: one that answers 401/403 where another answers 200 is taken out with one warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from bbmirror.config import Credentials
from bbmirror.http.errors import RateLimited, retry_after
from bbmirror.http.pacing import Pacer, Throttle
from bbmirror.http.scrub import remember_credentials

log = logging.getLogger("bbmirror.pool")

AGREED = 3  # 403s every credential agreed on before a 403 is no longer cross-checked


@dataclass(eq=False)
class Lane:
    """One credential of the pool: its budget, its 429 pause, what it spent."""

    credentials: Credentials
    pacer: Pacer
    throttle: Throttle
    index: int
    requests: int = 0
    near: bool = False  # the server said X-RateLimit-NearLimit: true
    out: str | None = None  # why it left the pool

    @property
    def name(self) -> str:
        """How messages name it (never its secret)."""
        return f"credential {self.index} ({self.credentials.label})"

    def ready_in(self, now: float) -> float | None:
        """Seconds until it may send (inf: its probe is in flight); None when unusable."""
        if self.out is not None or self.throttle.blocked is not None:
            return None
        return max(self.pacer.delay(), self.throttle.ready_in(now))


class Pool:
    """The credentials of one source; `acquire` hands out the one ready soonest."""

    def __init__(
        self,
        credentials: Sequence[Credentials],
        budget: int,
        backoff: Callable[[int], float],
        window: float = 3600.0,
        max_gap: float = float("inf"),
    ) -> None:
        unique: dict[str, Credentials] = {}
        for item in credentials or [Credentials()]:
            remember_credentials(item)
            unique.setdefault(item.header().get("Authorization", ""), item)
        self.lanes = [
            Lane(item, Pacer(budget, window=window), Throttle(backoff, max_gap), index)
            for index, item in enumerate(unique.values(), 1)
        ]
        self.changed = asyncio.Event()
        self.agreed = 0  # 403s all credentials agreed on

    def usable(self, exclude: Sequence[Lane] = ()) -> list[Lane]:
        return [
            lane
            for lane in self.lanes
            if lane not in exclude and lane.out is None and lane.throttle.blocked is None
        ]

    def soonest(self, exclude: Sequence[Lane] = ()) -> tuple[Lane | None, float]:
        """The lane ready soonest (ties: near-limit last, then the least spent) and its wait."""
        now = time.monotonic()
        best: tuple | None = None
        for lane in self.lanes:
            wait = None if lane in exclude else lane.ready_in(now)
            if wait is None:
                continue
            key = (max(0.0, wait), lane.near, len(lane.pacer.sent), lane.index)
            if best is None or key < best[0]:
                best = (key, lane)
        if best is None:
            return None, math.inf
        return best[1], best[0][0]

    async def acquire(
        self, on_wait: Callable[[float], None] | None, exclude: Sequence[Lane] = ()
    ) -> Lane:
        """Wait for a lane that may send now; raise when every lane is out or blocked."""
        while True:
            lane, wait = self.soonest(exclude)
            if lane is None:
                raise self.exhausted()
            if wait <= 0:
                return lane
            if on_wait is not None and lane.pacer.delay() > 1:
                on_wait(wait)
            self.changed.clear()
            timeout = None if math.isinf(wait) else wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout)

    def exhausted(self) -> Exception:
        """Why no credential is left: the last block, or the last one taken out."""
        for lane in self.lanes:
            if lane.throttle.blocked is not None:
                return lane.throttle.blocked
        return RuntimeError("every credential of the pool was taken out")

    def block(self, lane: Lane, error: RateLimited) -> None:
        """A huge Retry-After takes the lane out of this run; raise when none is left."""
        lane.throttle.blocked = error
        self.changed.set()
        if not self.usable():
            raise error

    def cross_check(self, lane: Lane, status: int, refused: dict[Lane, int]) -> bool:
        """Whether a 401/403 should be asked again with another credential."""
        if status == 403 and self.agreed >= AGREED:
            return False
        refused[lane] = status
        if self.usable(list(refused)):
            return True
        if status == 403 and len(refused) > 1:
            self.agreed += 1
        return False

    def take_out(self, refused: dict[Lane, int], answered: Lane, url: str) -> None:
        """Lanes refused what ``answered`` could read: they see less, so they leave the pool."""
        for lane, status in refused.items():
            if lane.out is None:
                lane.out = f"HTTP {status}"
                log.warning(
                    "%s answered %s at %s where %s answered 200: taken out of the pool "
                    "(all credentials of a source must see the same data)",
                    lane.name,
                    status,
                    url,
                    answered.name,
                )
        self.changed.set()

    def read_limits(self, lane: Lane, response: httpx.Response) -> float | None:
        """Apply X-RateLimit-* to the lane; seconds to pause it when none remain."""
        headers = response.headers
        limit = headers.get("X-RateLimit-Limit", "")
        if limit.isdigit() and 0 < int(limit) < lane.pacer.per_hour:
            lane.pacer.per_hour = int(limit)  # the server knows this credential's limit
        near = headers.get("X-RateLimit-NearLimit")
        if near is not None:
            lane.near = near.strip().lower() == "true"
        if headers.get("X-RateLimit-Remaining", "").strip() == "0":
            return retry_after(headers)
        return None
