"""Spending requests: the hourly budget per credential, and the pause after a 429.

Requests are the currency (Cloud allows about 1,000 an hour), so a 429 without Retry-After
pauses every queued request of that credential, not each one separately: otherwise each
queued request draws its own 429 and spends a request to learn what the first one already
knew. Each credential of a pool (`pool.py`) has its own `Pacer` and `Throttle`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from bbmirror.http.errors import RateLimited

GAP_FIRST = 0.1  # seconds between requests after a first 429
GAP_MAX = 2.0
GAP_DECAY = 0.95  # each success narrows the gap by a twentieth
GAP_MIN = 0.01  # below this the gap closes


class Pacer:
    """A rolling-hour request budget per credential: spend it, then wait for the oldest to age."""

    def __init__(
        self, per_hour: int, clock: Callable[[], float] = time.monotonic, window: float = 3600.0
    ) -> None:
        self.per_hour = per_hour  # requests per window (an hour, unless a bench scales it)
        self.clock = clock
        self.window = window
        self.sent: deque[float] = deque()

    def delay(self) -> float:
        """Seconds to wait before the next request fits in the budget."""
        now = self.clock()
        while self.sent and now - self.sent[0] >= self.window:
            self.sent.popleft()
        if len(self.sent) < self.per_hour:
            return 0.0
        return self.window - (now - self.sent[len(self.sent) - self.per_hour])

    def spend(self) -> None:
        self.sent.append(self.clock())


class Throttle:
    """The pause a 429 starts for one credential, and the block a huge Retry-After sets.

    After a 429, once the pause is over, one request goes first (the probe); the others wait
    for its answer instead of each drawing a 429 of its own while the limit still holds. A
    429 also widens the gap kept between any two requests, which narrows again with each
    success: under a steady limit (a token bucket) the client settles near the refill rate
    instead of bursting into a 429 after every pause.
    """

    def __init__(self, backoff: Callable[[int], float], max_gap: float = GAP_MAX) -> None:
        self.backoff = backoff  # seconds to wait after n 429s in a row
        self.max_gap = min(GAP_MAX, max_gap)  # never wider than the longest backoff
        self.until = 0.0  # monotonic: no request is sent before
        self.decided = 0.0  # when that pause was decided
        self.streak = 0  # 429s in a row, across every request of the client
        self.refused = 0  # 429s received in all
        self.blocked: RateLimited | None = None
        self.start = 1  # the backoff step a new run of 429s starts at (learned)
        self.first = 0  # the step this run of 429s started at
        self.probing = False
        self._changed = asyncio.Event()
        self.gap = 0.0  # seconds kept between two requests (0: none)
        self.next_send = 0.0  # monotonic: the next request goes no earlier

    async def hold(self) -> bool:
        """Wait until this request may go; True when it is the probe (then call `release`)."""
        while True:
            if self.blocked is not None:
                raise self.blocked
            now = time.monotonic()
            delay = max(self.until, self.next_send) - now
            if delay > 0:
                await asyncio.sleep(delay)
            elif self.streak == 0 or not self.probing:
                self.next_send = now + self.gap
                self.probing = self.streak > 0
                return self.probing
            else:
                self._changed.clear()
                await self._changed.wait()

    def ready_in(self, now: float) -> float:
        """Seconds until `hold` would let a request go (inf while a probe is out)."""
        if self.streak and self.probing:
            return float("inf")
        return max(self.until, self.next_send) - now

    def release(self) -> None:
        """The probe has its answer, whatever it was: the next request may go."""
        self.probing = False
        self._changed.set()

    def passed(self) -> None:
        """A request got through: the limit is over, everyone may go.

        The next run of 429s starts at the step that worked this time (one lower when the
        first step sufficed), so a steady limit costs about one 429 per window, not a ladder.
        """
        if self.streak:
            self.start = max(1, self.streak - 1 if self.streak == self.first else self.streak)
        self.streak = 0
        self.gap = self.gap * GAP_DECAY if self.gap > GAP_MIN else 0.0
        self._changed.set()

    def refuse(self, hinted: float | None, sent: float) -> None:
        """A 429 to a request sent at ``sent``: pause for ``hinted`` s or a growing backoff.

        A 429 to a request sent before the current pause was decided says nothing new (it
        was in flight with the one that started the pause), so it does not lengthen it.
        """
        self.refused += 1
        if hinted is not None:
            self.streak = max(self.streak, 1)
            wait = hinted
        elif sent < self.decided:
            return
        else:
            if self.streak == 0:
                self.streak = self.first = self.start
            else:
                self.streak += 1
            self.gap = min(self.max_gap, max(GAP_FIRST, self.gap * 2))
            wait = self.backoff(self.streak)
        self.decided = time.monotonic()
        self.until = max(self.until, self.decided + wait)
