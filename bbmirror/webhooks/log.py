"""What arrived, per source: the last delivery, counts by outcome, recent delivery ids.

Kept in memory by the receiver and saved in ``sync_state`` (scope ``webhooks``, stream
``deliveries``) by the worker whenever it holds the writer lock, so that ``status`` can show
it without a schema change. Delivery ids (``X-Request-UUID`` / ``X-Request-Id``) tell a
redelivery from a new event; a redelivery is answered 200 and changes nothing.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from datetime import UTC, datetime

SCOPE, STREAM = "webhooks", "deliveries"
REMEMBER = 10_000  # delivery ids kept per source


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class DeliveryLog:
    """Per source: outcome counts, the last delivery, the ids seen lately."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}
        self.last: dict[str, dict[str, str]] = {}
        self.ids: dict[str, OrderedDict[str, None]] = {}
        self.dirty: set[str] = set()
        self.requests: Counter[str] = Counter()  # spent by refreshes, per source
        self.lock = threading.Lock()  # the receiver records, the worker thread saves

    def spend(self, source: str, requests: int) -> None:
        """Requests a refresh for ``source`` made."""
        with self.lock:
            self.requests[source] += requests
            self.dirty.add(source)

    def seen(self, source: str, delivery: str | None) -> bool:
        """Whether this delivery id came before (a redelivery)."""
        with self.lock:
            return bool(delivery) and delivery in self.ids.get(source, {})

    def record(self, source: str, event: str, outcome: str, delivery: str | None = None) -> None:
        """One delivery and what became of it (queued, coalesced, ignored, rejected...)."""
        with self.lock:
            self.counts.setdefault(source, Counter())[outcome] += 1
            self.last[source] = {"at": now(), "event": event[:100], "outcome": outcome}
            if delivery and outcome not in ("rejected", "malformed"):
                ids = self.ids.setdefault(source, OrderedDict())
                ids[delivery[:100]] = None
                while len(ids) > REMEMBER:
                    ids.popitem(last=False)
            self.dirty.add(source)

    def snapshot(self, source: str) -> dict:
        """What ``status`` shows for a source."""
        with self.lock:
            counts = dict(self.counts.get(source, {}))
            last = self.last.get(source)
            return {"last": last, "counts": counts, "requests": self.requests[source]}

    def take_dirty(self) -> dict[str, dict]:
        """The snapshots of the sources that changed since the last call."""
        with self.lock:
            names, self.dirty = sorted(self.dirty), set()
        return {name: self.snapshot(name) for name in names}
