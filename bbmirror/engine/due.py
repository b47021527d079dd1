"""The queued-children walker: reads what a ``part="parents"`` step left due (deferred.py)."""

from __future__ import annotations

import asyncio

from bbmirror.engine import deferred
from bbmirror.engine.base import Engine
from bbmirror.engine.deferred import first
from bbmirror.engine.policy import settle
from bbmirror.engine.streams import Context, Stream

BATCH = 25  # parents whose children are read (concurrently) and committed together


class DueWalker(Engine):
    """Reads the queued children of a parent stream (``part="children"`` steps)."""

    async def run_due(self, stream: Stream, ctx: Context, scope: str) -> None:
        """Every queued child list of ``stream``'s parents, open and newest first."""
        state = self.store.get_state(self.source.name, scope, stream.name)
        queue = dict((state.extra.get(deferred.DUE) or {}) if state else {})
        if state is None or not queue:
            return
        order = first(self, stream, queue)
        gone = set(queue) - set(order)  # tombstoned since: nothing to read
        done = 0
        for start in range(0, len(order) or 1, BATCH):
            batch = order[start : start + BATCH]
            jobs, owners, left = [], [], {}
            for parent_id in batch:
                number, names = queue[parent_id]
                child_ctx = {**ctx, **stream.child_context({"id": number}, parent_id)}
                waiting = [name for name in names if not self.wanted(name)]
                if waiting:  # not asked for this run (--only): stays queued
                    left[parent_id] = [number, waiting]
                for name in names:
                    if name not in waiting:
                        jobs.append(self.fetch_due_child(name, child_ctx, parent_id, names))
                        owners.append(number)
            results = await asyncio.gather(*jobs)
            failed = {n for n, r in zip(owners, results, strict=True) if r is None}
            with self.store.transaction():
                self.write_children([r for r in results if r is not None])
                self.children_read(stream, state, set(owners) - failed)
                current = state.extra.get(deferred.DUE) or {}
                for parent_id in [*batch, *(gone if start == 0 else ())]:
                    current.pop(parent_id, None)
                current.update(left)
                state.extra[deferred.DUE] = current
                if failed or state.extra.get("redo_failures"):
                    settle(state, set(owners), failed)
                if failed:
                    state.extra["redo"] = sorted(set(state.extra.get("redo", [])) | failed)
                self.store.put_state(state)
            done += len(batch)
            self.progress(ctx.get("full_name", ""), f"{stream.name} children", done)
