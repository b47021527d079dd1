"""The ascending keyset walker: ``q=<cursor> >= <last value seen>`` pages, checkpointed per page.

Each page is a fresh query, so rows that change while we page can never slide past us the way
they can behind an offset-based ``next`` link (Cloud's pull requests and issues).
"""

from __future__ import annotations

from bbmirror.engine.base import (
    OVERLAP,
    Engine,
    before_watermark,
    cursor_of,
    page_values,
)
from bbmirror.engine.streams import Context, Stream
from bbmirror.engine.walk_guard import LoopGuard
from bbmirror.engine.watermark import ceiling, future, newest, usable
from bbmirror.http import Gone, NotFound
from bbmirror.store.db import SyncState


class KeysetWalker(Engine):
    """Walks ``incremental`` streams."""

    async def run_incremental(self, stream: Stream, ctx: Context, scope: str) -> None:
        """Keyset-page a list in cursor order, fetching children of changed parents."""
        assert stream.cursor
        state = self.store.get_state(self.source.name, scope, stream.name)
        if state is None or self.options.full:
            state = SyncState(source=self.source.name, scope=scope, stream=stream.name)
        limit = ceiling(self.client.server_date)
        if state.resume and not usable(state.resume, limit):
            state.resume = None  # a keyset start written before values were checked
        children = self.plan_children(stream, state, scope, bool(state.resume))
        start = state.resume or before_watermark(usable(state.watermark, limit), OVERLAP)
        if children.restart or self.options.reconcile:
            # --reconcile reads the whole list: what moves no updated_on (issue votes, build
            # statuses of the declared ``refresh`` children) is read again for every parent.
            start, state.resume = None, None
        if self.options.reconcile:
            key = (stream.name, scope)
            refresh = frozenset(name for name in stream.refresh if self.wanted(name))
            self.backfill[key] = self.backfill.get(key, frozenset()) | refresh
        run_max = usable(state.extra.get("run_max"), limit) if state.resume else None
        path = stream.path.format(**ctx)
        base = [*stream.params, ("sort", stream.cursor), ("pagelen", str(stream.pagelen))]
        url: str | None = None  # set when keyset paging cannot progress (ties on a page)
        seen = 0
        guard = LoopGuard()
        try:
            await self.redo(stream, ctx, state)
            while True:
                if url:
                    body = await self.client.get(url)
                else:
                    query = [("q", f"{stream.cursor} >= {start}")] if start else []
                    body = await self.client.get(path, [*base, *query])
                values = page_values(body, path)
                page = await self.read_parents(stream, ctx, values)
                cursors = [cursor_of(obj, stream.cursor) for obj in values]
                limit = ceiling(self.client.server_date)
                page_max = newest(cursors, limit)  # only values that parse, none in the future
                for reason, payload in future(values, stream.cursor, limit):
                    self.quarantine(stream.name, reason, payload)
                run_max = max(filter(None, [run_max, page_max]), default=None)
                following = body.get("next")
                keyset = bool(page_max and (start is None or page_max > start))
                with self.store.transaction():
                    self.write_parents(stream, page, state)
                    if not following:
                        state.watermark = run_max or state.watermark
                        state.resume = None
                        state.extra.pop("run_max", None)
                        children.complete(state)
                    else:
                        state.resume = page_max if keyset else start
                        state.extra["run_max"] = run_max
                    self.store.put_state(state)
                seen += len(values)
                self.progress(ctx.get("full_name", ""), stream.name, seen)
                if not following:
                    return
                # A keyset start only ever moves forward; a page full of one timestamp falls
                # back to `next`. Either way, a walk that leads in circles stops here.
                problem = guard.problem(None if keyset else following)
                if problem:
                    self.quarantine(stream.name, problem, {"path": path, "next": following})
                    return
                start, url = (page_max, None) if keyset else (start, following)
        except (NotFound, Gone) as exc:
            if not stream.optional:
                raise
            self.failure(stream, exc, ctx)  # the declared policy: absent, or removed (410)
