"""Simulated time: microseconds since the epoch inside, ISO strings in the worlds."""

from __future__ import annotations

import math
import random
import zlib
from datetime import UTC, datetime, timedelta, timezone

WORLD_CLOCK = "2026-01-01T00:00:00.000000+00:00"  # a fresh world's clock: history ends here

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(stamp: str) -> int:
    """Microseconds since the epoch of an ISO-8601 timestamp with an offset."""
    return (datetime.fromisoformat(stamp) - EPOCH) // timedelta(microseconds=1)


def iso(us: int) -> str:
    """The API's usual form: UTC, microseconds, ``+00:00``."""
    return (EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds")


END_US = to_us(WORLD_CLOCK)
START_US = END_US - 540 * DAY
LAST_US = END_US - HOUR  # generated history stops an hour before the clock

# Author offsets in minutes (a few odd ones on purpose: +05:30, +05:45, -03:30).
OFFSETS = (0, 60, 120, 180, 330, 345, 480, 540, 600, -180, -210, -240, -300, -420, -480)
_ZONES = {m: timezone(timedelta(minutes=m)) for m in OFFSETS}


def offset_for(key: str) -> int:
    """A stable UTC offset (minutes) for an author, so their commits share one time zone."""
    return OFFSETS[zlib.crc32(key.encode()) % len(OFFSETS)]


def commit_date(us: int, offset: int) -> str:
    """A commit or tag date: the author's offset, whole seconds, e.g. ``...T10:12:55+02:00``."""
    moment = EPOCH + timedelta(microseconds=us - us % US)
    return moment.astimezone(_ZONES[offset]).isoformat(timespec="seconds")


def pr_window(
    rng: random.Random, state: str, start: int, last: int, minute: int, day: int
) -> tuple[int, int | None]:
    """When a generated PR opens and (unless OPEN) closes, in the caller's time unit."""
    lo, hi = (0.7, 0.995) if state == "OPEN" else (0.02, 0.97)
    t_open = start + int((last - start) * rng.uniform(lo, hi))
    t_close = None
    if state != "OPEN":
        duration = int(rng.lognormvariate(math.log(day), 1.3))
        t_close = t_open + max(5 * minute, min(duration, int((last - t_open) * 0.95)))
    return t_open, t_close
