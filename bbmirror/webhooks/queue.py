"""Deliveries waiting to be refreshed: coalesced per object, bounded, never dropped.

* A delivery for an object already waiting is the same refresh (coalesced); one for an object
  being refreshed now is remembered and refreshed once more after it (what changed meanwhile
  may have been read before the change).
* At most ``limit`` objects wait. Past that, a delivery is folded into a refresh of its whole
  repository (refs, commits and the pull request walk from the watermark), which covers
  everything the repository's waiting deliveries asked for: a flood costs one repository
  refresh, and nothing is lost.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from bbmirror.webhooks.events import Target

REPOSITORY = "repository"  # Target.what for a whole-repository refresh
LIMIT = 500


class RefreshQueue:
    """Targets waiting, in arrival order, one per key; which keys are being refreshed."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.pending: dict[tuple, Target] = {}
        self.running: set[tuple] = set()
        self.again: dict[tuple, Target] = {}
        self.folded = 0  # deliveries folded into repository refreshes
        self.lock = threading.Lock()  # the receiver puts, the worker thread takes

    def __len__(self) -> int:
        return len(self.pending)

    def put(self, target: Target) -> str:
        """Queue a target; say what became of it (queued, coalesced or folded)."""
        with self.lock:
            return self._put(target)

    def _put(self, target: Target) -> str:
        whole = replace(target, what=REPOSITORY, number=None)
        if whole.key in self.pending and whole.key not in self.running:
            return "coalesced"  # the repository's refresh covers it
        if target.key in self.running:
            self.again[target.key] = target
            return "coalesced"
        if target.key in self.pending:
            return "coalesced"
        if len(self.pending) >= self.limit and target.what != REPOSITORY:
            self.folded += 1
            for key in [k for k in self.pending if k[:2] == whole.key[:2]]:
                del self.pending[key]
            self.pending[whole.key] = whole
            return "folded"
        self.pending[target.key] = target
        return "queued"

    def take(self, most: int) -> list[Target]:
        """Up to ``most`` waiting targets that are not being refreshed, now running."""
        taken: list[Target] = []
        with self.lock:
            for key in list(self.pending):
                if len(taken) >= most:
                    break
                if key in self.running:
                    continue
                taken.append(self.pending.pop(key))
                self.running.add(key)
        return taken

    def done(self, target: Target) -> None:
        """A refresh finished: queue it again if a delivery came in meanwhile."""
        with self.lock:
            self.running.discard(target.key)
            again = self.again.pop(target.key, None)
            if again is not None:
                self.pending.setdefault(again.key, again)

    def requeue(self, targets: list[Target]) -> None:
        """Targets taken but not refreshed (a batch cut short): back in line."""
        with self.lock:
            for target in targets:
                if target.key in self.running:
                    self.running.discard(target.key)
                    self.pending.setdefault(target.key, target)

    def idle(self) -> bool:
        with self.lock:
            return not self.pending and not self.running and not self.again
