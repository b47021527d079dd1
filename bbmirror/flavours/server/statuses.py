"""Build statuses of new tips, asked in bulk first (issue 14).

Most tips have no build. ``POST /rest/build-status/1.0/commits/stats`` takes a JSON array of
commit ids and answers ``{id: {successful, failed, inProgress, cancelled, unknown}}``, leaving
out every commit without builds (bitbucket-server.md §2.11), so one request tells which of up
to ``STATS_BATCH`` tips have statuses to list; only those get the per-commit list.

The tips still to read stay state (``STATUS_TODO`` in the commits state, issue 11): a tip
leaves it in the transaction that records it has no builds, or that writes its statuses; one
whose read failed stays for the next run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bbmirror.engine.base import ChildRows, Engine
from bbmirror.engine.ranges import STATUS_TODO
from bbmirror.engine.streams import Context
from bbmirror.store.db import SyncState

STATS = "rest/build-status/1.0/commits/stats"
# Commit ids per stats request: the documentation names no cap; 100 keeps a body small
# (4 KB) and is what the simulator accepts by default (docs/simulator.md).
STATS_BATCH = 100


def has_builds(stats: object) -> bool:
    """A stats entry that counts at least one build; anything unreadable counts as some."""
    if not isinstance(stats, dict):
        return True
    counts = [v for v in stats.values() if isinstance(v, int) and not isinstance(v, bool)]
    return not counts or any(counts)


async def built(engine: Engine, commits: Iterable[str]) -> set[str]:
    """Which of ``commits`` have build statuses, asked ``STATS_BATCH`` at a time."""
    ids = sorted(set(commits))
    found: set[str] = set()
    for start in range(0, len(ids), STATS_BATCH):
        chunk = ids[start : start + STATS_BATCH]
        answer = await engine.client.post_json(STATS, chunk)
        if not isinstance(answer, dict):
            found.update(chunk)  # an answer we cannot read: list them all, lose none
            continue
        found.update(sha for sha in chunk if sha in answer and has_builds(answer[sha]))
    return found


def _forget(engine: Engine, state: SyncState | None, done: set[str]) -> None:
    """Drop read tips from the to-do list; call inside the transaction that records them."""
    if state is not None and done:
        state.extra[STATUS_TODO] = sorted(set(state.extra.get(STATUS_TODO, [])) - done)
        engine.store.put_state(state)


async def read_statuses(
    engine: Engine, ctx: Context, scope: str, building: list[str], extra: list[str]
) -> None:
    """Statuses of the tips still to read and of ``extra`` (asked in bulk first), and of the
    tips ``building`` (known to have statuses: listed straight away)."""
    stream = engine.streams["statuses"]
    state = engine.store.get_state(engine.source.name, scope, engine.streams["commits"].name)
    todo = set(state.extra.get(STATUS_TODO, []) if state else [])
    ask = (todo | set(extra)) - set(building)
    with_builds = await built(engine, ask) if ask else set()
    if ask - with_builds:
        with engine.store.transaction():  # no builds: nothing to list, nothing left to do
            _forget(engine, state, ask - with_builds)
    heads = sorted(with_builds | set(building))
    if not heads:
        return
    jobs = [engine.fetch_child(stream, {**ctx, "commit_hash": sha}, sha) for sha in heads]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    done = set()
    with engine.store.transaction():
        for sha, child in zip(heads, results, strict=True):
            if isinstance(child, ChildRows):
                engine.write(child.rows)
                done.add(sha)
        _forget(engine, state, done)
    for result in results:
        if isinstance(result, BaseException):
            raise result
