"""Children read after every parent list (issue 14, "useful in the first hour").

A plan may read a parent list in one level (``Step(..., part="parents")``) and its children in
a later one (``part="children"``): every repository's pull requests and issues are in the
mirror before the first per-parent child request. The parent walk decides which children are
due exactly as it does when it reads them at once (parents whose markers moved, the coverage
backfill, nothing for a parent that says there is nothing) and queues them in the parent
stream's state (``extra["due"]``: parent row id → [API number, child streams]) in the
transaction that writes the page. The children step reads the queue, open and most recently
updated parents first, a batch per transaction that writes their children and drops them from
the queue; so a crash loses nothing and reads nothing twice. A child list that fails puts its
parent on the redo list (read again, with backoff, by the next walk), as at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.store.db import SyncState

if TYPE_CHECKING:
    from bbmirror.engine.base import Engine

DUE = "due"
OPEN = ("OPEN", "NEW")  # pull request and issue states read first


def due(
    engine: Engine,
    stream: Stream,
    ctx: Context,
    parents: list[tuple[dict, RowSet]],
    changed: set[str],
) -> dict[str, list]:
    """The children a page's parents are due, chosen as ``Engine.fetch_children`` does."""
    backfill = engine.backfill.get((stream.name, ctx.get("repository_id", "")), frozenset())
    found: dict[str, list] = {}
    for obj, rows in parents:
        main = rows.get(stream.table) or []
        if not main:
            continue
        parent_id = main[0]["id"]
        names = []
        for name in stream.children if parent_id in changed else sorted(backfill):
            child = engine.streams[name]
            if engine.wanted(name) and not nothing_to_read(engine, child, obj, parent_id):
                names.append(name)
        if names:
            found[parent_id] = [obj.get("id"), names]
    return found


def nothing_to_read(engine: Engine, child: Stream, obj: dict, parent_id: str) -> bool:
    """The parent says its child list is empty (a zero count) and nothing is mirrored."""
    return bool(
        child.skip
        and child.skip(obj)
        and not engine.store.has_alive(child.table, {child.scope: parent_id})
    )


def enqueue(state: SyncState, found: dict[str, list]) -> None:
    """Add a page's due children to the queue; call in the page's transaction."""
    if not found:
        return
    queue = state.extra.setdefault(DUE, {})
    for parent_id, (number, names) in found.items():
        before = queue.get(parent_id, [number, []])[1]
        queue[parent_id] = [number, sorted({*before, *names})]


def pending(state: SyncState | None) -> int:
    """How many parents still wait for children (``status`` and tests read it)."""
    return len((state.extra.get(DUE) or {}) if state else {})


def first(engine: Engine, stream: Stream, queue: dict[str, list]) -> list[str]:
    """Live queued parents, open ones first, then by most recent update."""
    stored = engine.store.current(stream.table, list(queue), ("state", "updated_on"))
    return sorted(
        stored,
        key=lambda pid: (
            str(stored[pid][0] or "").upper() not in OPEN,
            _descending(stored[pid][1] or ""),
            pid,
        ),
    )


def _descending(stamp: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in stamp)
