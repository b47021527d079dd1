"""Watermarks that one bad record cannot poison (issue 11.5).

A watermark is a server timestamp that decides where the next run starts reading. So:

* only values that parse as timestamps count (``'yesterday'``, ``'2024-13-45T00:00:00Z'`` or
  ``'1700000000'`` in ``updated_on`` are ignored), normalised to the store's UTC text form so
  that text order is time order;
* no value ahead of the server's own clock counts: the ceiling is the ``Date`` header of the
  server's latest response plus ``SKEW`` (5 minutes: Bitbucket's clock and its data agree,
  so this only absorbs the header's one-second resolution and modest drift); without a
  ``Date`` header, the local clock stands in. A record dated in 2999 is still mirrored; it
  just cannot freeze later runs;
* a stored watermark that does not parse or lies beyond the ceiling (written by an older
  bbmirror) is dropped, so the stream is read from the start once rather than never again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bbmirror.rows import RowError, to_utc

SKEW = timedelta(minutes=5)


def ceiling(server_date: datetime | None) -> str:
    """The latest timestamp a watermark may hold: the server's clock plus ``SKEW``."""
    base = server_date or datetime.now(UTC)
    return to_utc(base + SKEW) or ""


def stamp(value: object) -> str | None:
    """A cursor value in the store's UTC form, or None when it is not a timestamp."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    try:
        return to_utc(value)
    except (RowError, ValueError, OverflowError):
        return None


def newest(values: Iterable[object], limit: str) -> str | None:
    """The largest value that parses and is not beyond ``limit``."""
    good = [s for v in values if (s := stamp(v)) and s <= limit]
    return max(good, default=None)


def beyond(values: Iterable[object], limit: str) -> list[object]:
    """Values that parse but lie beyond ``limit`` (what a lying clock would make the mark)."""
    return [v for v in values if (s := stamp(v)) and s > limit]


def future(values: Iterable[dict], field: str, limit: str) -> list[tuple[str, dict]]:
    """A quarantine entry (reason, payload) for each record dated beyond ``limit``: it is
    mirrored as the server sent it, but named, since it cannot be a watermark."""
    return [
        (f"{field} {obj.get(field)!r} is ahead of the server's clock; not a watermark",
         {"id": obj.get("id"), field: obj.get(field)})
        for obj in values
        if isinstance(obj, dict) and beyond([obj.get(field)], limit)
    ]  # fmt: skip


def usable(watermark: str | None, limit: str) -> str | None:
    """A stored watermark, or None when it does not parse or runs ahead of the server."""
    mark = stamp(watermark)
    return mark if mark and mark <= limit else None
