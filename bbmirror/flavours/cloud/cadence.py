"""Small settings lists read on a cadence, not every run (issue 14: requests are the currency).

Milestones, versions, components and default reviewers have no timestamps and change rarely,
yet each costs a request per repository per run. They are re-read when older than the source's
``settings_every`` (default 24 h; 0: every run), always on ``--full`` and ``--reconcile``,
when never read, and after the repository was renamed (their JSON holds its links). When each
was last read is a ``sync_state`` row (stream = the list's name, scope = the repository id,
``extra.refreshed_at``), which ``bbmirror status`` shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bbmirror.engine.outcome import now
from bbmirror.engine.streams import Context
from bbmirror.store.db import SyncState

if TYPE_CHECKING:
    from bbmirror.engine.base import Engine

SETTINGS = ("milestones", "versions", "components", "default_reviewers")
DEFAULT_EVERY = 24 * 3600.0  # seconds


def every(engine: Engine) -> float:
    """The source's cadence in seconds."""
    return float(getattr(engine.source, "settings_every", DEFAULT_EVERY))


def due(engine: Engine, ctx: Context, name: str) -> bool:
    """Whether the list ``name`` of this repository is read this run."""
    if engine.options.full or engine.options.reconcile or every(engine) <= 0:
        return True
    state = engine.store.get_state(engine.source.name, ctx["repository_id"], name)
    stamp = state.extra.get("refreshed_at") if state else None
    if not isinstance(stamp, str):
        return True
    try:
        age = datetime.fromisoformat(now()) - datetime.fromisoformat(stamp)
    except ValueError:
        return True
    return age >= timedelta(seconds=every(engine)) or age < timedelta(0)


def mark(engine: Engine, ctx: Context, name: str) -> None:
    """Remember that the list ``name`` of this repository was read completely just now."""
    store, source = engine.store, engine.source.name
    state = store.get_state(source, ctx["repository_id"], name) or SyncState(
        source=source, scope=ctx["repository_id"], stream=name
    )
    state.extra["refreshed_at"] = now()
    with store.transaction():
        store.put_state(state)


def forget(engine: Engine, ctx: Context) -> None:
    """Make every settings list of this repository due (a rename changes their links)."""
    store, source = engine.store, engine.source.name
    with store.transaction():
        for name in SETTINGS:
            state = store.get_state(source, ctx["repository_id"], name)
            if state is not None and state.extra.pop("refreshed_at", None):
                store.put_state(state)


async def refresh(engine: Engine, name: str, ctx: Context, where: dict[str, str]) -> bool:
    """Read ``name`` in full when due; whether it was read (False: skipped or failed)."""
    if not engine.wanted(name) or not due(engine, ctx, name):
        return False
    found = await engine.guarded(name, engine.run_full(engine.streams[name], ctx, where), ctx)
    if found is None:
        return False  # failed or refused: due again next run
    mark(engine, ctx, name)
    return True
