"""The feed walker: a repository-wide list of entries, newest first, down to the watermark.

Cloud's ``pullrequests/activity`` feed (reference §3.13) carries every PR's activity entries,
comments included, 50 to a page: a first sync reads it whole instead of two lists per PR, and
later runs read it from the top until they pass the watermark. Its order is not documented:
a page out of order means the rest of the feed is read too. A page's rows and the resume point
(the opaque ``next`` link) commit together; the watermark moves when the walk ends.

A walk that read the feed from its first entry to its last, in one run, saw everything there
is: what it did not see was deleted (a hard-deleted comment leaves the feed), and gets a
tombstone. That is how ``--full`` and ``--reconcile`` see the deletions and edits a plain run's
tail cannot (an edit or a deletion makes no entry).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from bbmirror.engine.base import OVERLAP, Engine, before_watermark, merge
from bbmirror.engine.outcome import now
from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.engine.watermark import ceiling, newest, stamp, usable
from bbmirror.http import BitbucketError
from bbmirror.http.client import Page
from bbmirror.store.db import SyncState

COMPLETE = "complete"  # read from the first entry: everything the feed holds is mirrored
TAIL = "tail"  # read down to the watermark: every entry newer than the last run is mirrored
STALE = (400, 404, 410)  # what an expired resume link may answer


@dataclass(frozen=True)
class FeedRead:
    """What a walk read: COMPLETE or TAIL, and the newest entry when the walk began (the feed
    is whole or current up to that moment; later changes are the caller's to find)."""

    status: str
    top: str | None


class FeedWalker(Engine):
    """Walks ``feed`` streams."""

    async def run_feed(self, stream: Stream, ctx: Context, scope: str) -> FeedRead:
        """Read the feed down to the watermark (or whole); COMPLETE or TAIL (see module doc)."""
        state = self.store.get_state(self.source.name, scope, stream.name)
        if state is None or self.options.full:
            state = SyncState(source=self.source.name, scope=scope, stream=stream.name)
        limit = ceiling(self.client.server_date)
        mark = usable(state.watermark, limit)
        deep = bool(self.options.full or self.options.reconcile or mark is None)
        resumed = bool(state.resume) and not (self.options.full or self.options.reconcile)
        if resumed:
            deep = bool(state.extra.get("deep"))
        if resumed and state.resume:  # the stored ``next`` link, its query kept as parameters
            link = httpx.URL(state.resume)
            pages = self.client.pages(str(link.copy_with(query=None)), link.params.multi_items())
        else:
            pages = self.client.pages(stream.path.format(**ctx), [*self.page_size(stream)])
        try:
            return await self.walk_feed(stream, ctx, scope, pages, state, deep, resumed)
        except BitbucketError as exc:
            if not resumed or exc.status not in STALE or state.extra.get("resumed_pages"):
                raise
        # The resume link of a killed run has expired: start the walk again, once.
        state.resume = None
        for key in ("run_max", "deep", "resumed_pages"):
            state.extra.pop(key, None)
        with self.store.transaction():
            self.store.put_state(state)
        return await self.run_feed(stream, ctx, scope)

    async def walk_feed(
        self,
        stream: Stream,
        ctx: Context,
        scope: str,
        pages: AsyncIterator[Page],
        state: SyncState,
        deep: bool,
        resumed: bool,
    ) -> FeedRead:
        """The pages of one walk (see ``run_feed``)."""
        limit = ceiling(self.client.server_date)
        mark = usable(state.watermark, limit)
        run_max = usable(state.extra.get("run_max"), limit) if resumed else None
        floor = None if deep else stamp(before_watermark(mark, OVERLAP))
        seen: dict[str, set[str]] = {}
        clean, ordered, previous, count = True, True, None, 0
        top = run_max  # a resumed walk began when its first page was read
        state.extra.pop("resumed_pages", None)
        async for page in pages:
            rowset: RowSet = {}
            dates: list[str] = []
            for obj in page.values:
                rows = self.to_rows(stream, obj, ctx)
                if rows is None:
                    clean = False
                    continue
                merge(rowset, rows)
                dates += [r["date"] for r in rows.get(stream.table, ()) if r.get("date")]
            for table, rows in rowset.items():
                seen.setdefault(table, set()).update(r["id"] for r in rows)
            run_max = max(filter(None, (run_max, newest(dates, limit))), default=None)
            top = top if count else run_max
            ordered = ordered and dates == sorted(dates, reverse=True)
            ordered = ordered and (previous is None or not dates or dates[0] <= previous)
            previous = dates[-1] if dates else previous
            done = not page.next or bool(floor and ordered and previous and previous < floor)
            with self.store.transaction():
                self.write(rowset)
                if done:
                    state.watermark = run_max or mark
                    state.resume = None
                    for key in ("run_max", "deep", "resumed_pages"):
                        state.extra.pop(key, None)
                    if deep and clean and not resumed:
                        self.tombstone_unseen(stream, scope, seen)
                else:
                    state.resume = page.next
                    state.extra.update(run_max=run_max, deep=deep)
                    state.extra["resumed_pages"] = resumed
                self.store.put_state(state)
            count += len(page.values)
            self.progress(ctx.get("full_name", ""), stream.name, count)
            if done:
                await pages.aclose()
                break
        return FeedRead(COMPLETE if deep else TAIL, top)

    def tombstone_unseen(self, stream: Stream, scope: str, seen: dict[str, set[str]]) -> None:
        """A whole feed read in one run: the rows of its tables it no longer holds."""
        when = now()
        owned = [(stream.table, {stream.scope: scope}), *stream_owned(stream, scope)]
        for table, where in owned:
            gone = self.store.tombstone(table, where, seen.get(table, set()), when)
            self.summary.add({table: gone})


def stream_owned(stream: Stream, scope: str) -> list[tuple[str, dict[str, str]]]:
    """The other tables a feed holds completely, per scope (its ``owns`` declarations)."""
    return [(o.table, {o.column: scope, **dict(o.only)}) for o in stream.owns]
