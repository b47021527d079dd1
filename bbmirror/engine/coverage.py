"""Which child streams a parent stream's watermark covers (issue 11.2).

Children are fetched only for parents whose change markers moved. A run limited by ``--only``
writes parents (moving their markers) without the children it was not asked for, so from then
on the markers no longer say that those children are stale. The parent's state therefore
records, in ``extra["covers"]``, the child streams whose rows agree with the stored parents:

* a run that does not want some covered child stream drops it from ``covers`` before it
  writes any parent (a state with no ``covers`` yet covers every child: a new mirror, or one
  written before this record existed);
* a run that wants a child stream ``covers`` lacks reads the whole parent list from the start
  and fetches that stream for every parent (a *backfill*, kept in ``extra["backfill"]`` so a
  resumed walk goes on with it); when that walk completes, ``covers`` is what the run wanted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bbmirror.engine.streams import Stream
from bbmirror.store.db import Store, SyncState


@dataclass
class Coverage:
    """One run's plan for a parent stream's children."""

    wanted: frozenset[str]  # child streams this run fetches for changed parents
    backfill: frozenset[str]  # child streams to fetch for every parent
    restart: bool  # the walk must read the whole list from its start

    def complete(self, state: SyncState) -> None:
        """A walk that completed covers what it wanted; call in its last transaction."""
        state.extra["covers"] = sorted(self.wanted)
        state.extra.pop("backfill", None)


def plan(
    store: Store, stream: Stream, state: SyncState, wanted: Callable[[str], bool], resuming: bool
) -> Coverage:
    """Decide the backfill; save the narrowed cover before the run writes any parent."""
    before = dict(state.extra)
    want = frozenset(name for name in stream.children if wanted(name))
    covers = frozenset(state.extra.get("covers", stream.children)) & want
    going = frozenset(state.extra.get("backfill", ())) if resuming else frozenset()
    missing = want - covers
    restart = bool(missing - going)
    state.extra["covers"] = sorted(covers)
    if missing:
        state.extra["backfill"] = sorted(missing)
    else:
        state.extra.pop("backfill", None)
    if state.extra != before:
        store.put_state(state)
    return Coverage(want, missing, restart)
