"""Spending requests: the hourly budget per credential, and the client-wide pause after a 429.

Requests are the currency (Cloud allows about 1,000 an hour), so a 429 without Retry-After
pauses every queued request of the client, not each one separately: otherwise each queued
request draws its own 429 and spends a request to learn what the first one already knew.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from bbmirror.http_errors import RateLimited


class Pacer:
    """A rolling-hour request budget per credential: spend it, then wait for the oldest to age."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self.sent: deque[float] = deque()

    def delay(self) -> float:
        """Seconds to wait before the next request fits in the budget."""
        now = self.clock()
        while self.sent and now - self.sent[0] >= 3600:
            self.sent.popleft()
        if len(self.sent) < self.per_hour:
            return 0.0
        return 3600 - (now - self.sent[0])

    def spend(self) -> None:
        self.sent.append(self.clock())


class Throttle:
    """The pause a 429 starts for the whole client, and the block a huge Retry-After sets."""

    def __init__(self, backoff: Callable[[int], float]) -> None:
        self.backoff = backoff  # seconds to wait after n 429s in a row
        self.until = 0.0  # monotonic: no request is sent before
        self.decided = 0.0  # when that pause was decided
        self.streak = 0  # 429s in a row, across every request of the client
        self.refused = 0  # 429s received in all
        self.blocked: RateLimited | None = None

    async def hold(self) -> None:
        """Wait out the current pause, or fail at once when the server blocked us."""
        while True:
            if self.blocked is not None:
                raise self.blocked
            delay = self.until - time.monotonic()
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    def passed(self) -> None:
        """A request got through: the next 429 starts the backoff afresh."""
        self.streak = 0

    def refuse(self, hinted: float | None, sent: float) -> None:
        """A 429 to a request sent at ``sent``: pause for ``hinted`` s or a growing backoff.

        A 429 to a request sent before the current pause was decided says nothing new (it
        was in flight with the one that started the pause), so it does not lengthen it.
        """
        self.refused += 1
        if hinted is not None:
            wait = hinted
        elif sent < self.decided:
            return
        else:
            self.streak += 1
            wait = self.backoff(self.streak)
        self.decided = time.monotonic()
        self.until = max(self.until, self.decided + wait)
