"""The newest-first walker: pages in descending update order until below the watermark.

Used where the API has no "updated since" filter (Data Center's pull requests); a page seen
out of order means the whole list is read.
"""

from __future__ import annotations

from bbmirror.engine.base import OVERLAP, Engine, before_watermark
from bbmirror.engine.streams import Context, Stream
from bbmirror.engine.watermark import ceiling, future, usable
from bbmirror.engine.watermark import newest as newest_of
from bbmirror.rows import pullrequest_key
from bbmirror.store.db import SyncState


class NewestWalker(Engine):
    """Walks ``newest`` streams."""

    async def run_newest(self, stream: Stream, ctx: Context, scope: str) -> None:
        """Newest-first PR pages down to the watermark, then every open PR (see module doc)."""
        state = self.store.get_state(self.source.name, scope, stream.name)
        if state is None or self.options.full:
            state = SyncState(source=self.source.name, scope=scope, stream=stream.name)
        children = self.plan_children(stream, state, scope, False)
        deep = self.options.reconcile or self.options.full or children.restart
        mark = usable(state.watermark, ceiling(self.client.server_date))
        floor = None if deep else before_watermark(mark, OVERLAP)
        path = stream.path.format(**ctx)
        seen: set[str] = set()
        newest = mark
        previous: str | None = None  # the oldest updatedDate of the pages so far
        monotonic, complete = True, True
        await self.redo(stream, ctx, state)
        pages = self.client.pages(path, [*stream.params, *self.page_size(stream)])
        exhausted = False  # the walk read the last page: it listed every PR, the open ones too
        async for page in pages:
            exhausted = page.next is None
            dates = await self.pr_page(stream, ctx, page.values, seen, state)
            if not dates:
                continue
            limit = ceiling(self.client.server_date)  # never a mark ahead of the server
            for reason, payload in future(page.values, "updatedDate", limit):
                self.quarantine(stream.name, reason, payload)
            newest = max(filter(None, (newest, newest_of(dates, limit))), default=None)
            ordered = dates == sorted(dates, reverse=True) and (
                previous is None or dates[0] <= previous
            )
            monotonic = monotonic and ordered
            previous = dates[-1]
            if floor and monotonic and previous < floor:
                complete = False
                await pages.aclose()
                break
        # Open PRs every run: they change in ways that may not move updatedDate (§3.2 4d);
        # a walk that reached the end of the list (a repository with fewer PRs than a page
        # holds) has just read each of them with everything else.
        if not exhausted:
            params = [("state", "OPEN"), ("order", "NEWEST"), *self.page_size(stream)]
            async for page in self.client.pages(path, params):
                await self.pr_page(stream, ctx, page.values, seen, state)
        with self.store.transaction():
            # The open list is complete: an open PR that no list showed was deleted.
            self.tombstone_missing(stream, {"repository_id": scope, "state": "OPEN"}, seen)
            if complete:
                self.tombstone_missing(stream, {"repository_id": scope}, seen)
            state.watermark = newest
            children.complete(state)
            self.store.put_state(state)

    async def pr_page(
        self, stream: Stream, ctx: Context, values: list[dict], seen: set[str], state: SyncState
    ) -> list[str]:
        """Write one page of PRs with the children of those that changed; their dates.

        A PR that could not be converted is quarantined, never tombstoned: its id still counts
        as seen (and when it has no usable id, every alive PR of the repository does).
        """
        page = await self.read_parents(stream, ctx, values)
        with self.store.transaction():
            self.write_parents(stream, page, state)
            if page.failed or page.due:  # children left for later are queued in the state
                self.store.put_state(state)
        written = [r for _, rows in page.parents for r in rows.get(stream.table, ())]
        seen.update(r["id"] for r in written)
        if len(page.parents) < len(values):
            seen.update(self.unconverted(ctx, values, seen))
        self.progress(ctx.get("full_name", ""), stream.name, len(seen))
        return [r["updated_on"] for r in written if r.get("updated_on")]

    def unconverted(self, ctx: Context, values: list, seen: set[str]) -> set[str]:
        """Ids that quarantined PRs of a page stand for, so that none is taken for deleted."""
        keep: set[str] = set()
        for value in values:
            number = value.get("id") if isinstance(value, dict) else None
            if type(number) is not int:
                return self.store.ids(
                    self.streams["pullrequests"].table, {"repository_id": ctx["repository_id"]}
                )
            keep.add(pullrequest_key(ctx["repository_id"], number))
        return keep - seen
