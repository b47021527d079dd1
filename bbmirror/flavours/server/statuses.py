"""Build statuses of new tips, asked in bulk first (issue 14).

Most tips have no build. ``POST /rest/build-status/1.0/commits/stats`` takes a JSON array of
commit ids and answers ``{id: {successful, failed, inProgress, cancelled, unknown}}``, leaving
out every commit without builds (bitbucket-server.md §2.11), so one request tells which of up
to ``STATS_BATCH`` tips have statuses to list; only those get the per-commit list.

Tips whose builds were still running last time (engine/freshness.py) are asked too, and listed
again only when their counts per state moved: a build that finishes or a new build changes
them, so a tip's statuses are equal to Bitbucket's once its builds are done; an in-progress
build re-posted with the same state (a new description) shows when it finishes.

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


# RestBuildStats: each field counts the builds of one state (bitbucket-server.md §2.11).
FIELDS = {
    "SUCCESSFUL": "successful",
    "FAILED": "failed",
    "INPROGRESS": "inProgress",
    "CANCELLED": "cancelled",
    "UNKNOWN": "unknown",
}


def has_builds(stats: object) -> bool:
    """A stats entry that counts at least one build; anything unreadable counts as some."""
    if not isinstance(stats, dict):
        return True
    counts = [v for v in stats.values() if isinstance(v, int) and not isinstance(v, bool)]
    return not counts or any(counts)


def moved(stats: object, stored: dict[str, int]) -> bool:
    """Whether Bitbucket's counts per state differ from the statuses the mirror holds."""
    if not isinstance(stats, dict) or set(stored) - set(FIELDS):
        return True
    return any(stats.get(name, 0) != stored.get(state, 0) for state, name in FIELDS.items())


async def stats_of(engine: Engine, commits: Iterable[str]) -> dict[str, object]:
    """Build counts of those ``commits`` that have builds, asked ``STATS_BATCH`` at a time."""
    ids = sorted(set(commits))
    found: dict[str, object] = {}
    for start in range(0, len(ids), STATS_BATCH):
        chunk = ids[start : start + STATS_BATCH]
        answer = await engine.client.post_json(STATS, chunk)
        if not isinstance(answer, dict):
            found.update(dict.fromkeys(chunk))  # unreadable: list them all, lose none
            continue
        found.update((sha, answer[sha]) for sha in chunk if sha in answer)
    return found


def stored_counts(engine: Engine, repository_id: str, commits: list[str]) -> dict[str, dict]:
    """Live statuses the mirror holds per commit and state."""
    counts: dict[str, dict[str, int]] = {sha: {} for sha in commits}
    if not commits:
        return counts
    marks = ", ".join("?" for _ in commits)
    sql = (
        "SELECT commit_hash, state, count(*) FROM commit_statuses WHERE repository_id = ?"
        f" AND deleted_at IS NULL AND commit_hash IN ({marks}) GROUP BY commit_hash, state"
    )
    for sha, state, n in engine.store.conn.execute(sql, [repository_id, *commits]):
        counts[sha][state] = n
    return counts


def _forget(engine: Engine, state: SyncState | None, done: set[str]) -> None:
    """Drop read tips from the to-do list; call inside the transaction that records them."""
    if state is not None and done:
        state.extra[STATUS_TODO] = sorted(set(state.extra.get(STATUS_TODO, [])) - done)
        engine.store.put_state(state)


async def read_statuses(
    engine: Engine, ctx: Context, scope: str, building: list[str], extra: list[str]
) -> None:
    """Statuses of the tips still to read and of ``extra`` that have builds, and of the tips
    ``building`` whose counts moved; one bulk question decides which to list."""
    stream = engine.streams["statuses"]
    state = engine.store.get_state(engine.source.name, scope, engine.streams["commits"].name)
    todo = set(state.extra.get(STATUS_TODO, []) if state else [])
    ask = todo | set(extra)
    stats = await stats_of(engine, ask | set(building)) if ask or building else {}
    with_builds = {sha for sha in ask if sha in stats and has_builds(stats[sha])}
    stored = stored_counts(engine, scope, sorted(set(building) - ask))
    changed = {sha for sha, held in stored.items() if sha in stats and moved(stats[sha], held)}
    if ask - with_builds:
        with engine.store.transaction():  # no builds: nothing to list, nothing left to do
            _forget(engine, state, ask - with_builds)
    heads = sorted(with_builds | changed)
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
