"""The sync engine: runs stream declarations, checkpoints, reconciles, quarantines, logs runs.

The protocol (see DESIGN.md, "The sync protocol"), shared by every kind of source:

* A page's rows, its changed parents' children and its checkpoint commit in one SQLite
  transaction; no transaction spans an ``await``, so cancelling a run is always safe.
* The watermark moves only when a slice completes, to the largest cursor value seen, and
  reads start ``OVERLAP`` before it; upserts are idempotent, so ties are harmless.
* Children are fetched only for parents whose change markers moved, and not when the parent
  says there is nothing (a zero count and nothing stored). A child list is read whole, so what
  it no longer holds gets a tombstone.
* A record that cannot be turned into rows goes to ``sync_errors``; the run goes on.

Each flavour's order of work is in ``bbmirror/flavours/<name>/`` (plan.py, sync.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from bbmirror.config import Source
from bbmirror.engine import coverage, deferred, garbage
from bbmirror.engine.batches import ChildRows, ParentPage, merge
from bbmirror.engine.coverage import Coverage
from bbmirror.engine.cursors import before_watermark, cursor_of, page_values
from bbmirror.engine.outcome import Options, Progress, Summary, SyncError, now
from bbmirror.engine.policy import StatusPolicy, settle
from bbmirror.engine.streams import ABSENT, DELETED, REMOVED, Context, Owned, RowSet, Stream
from bbmirror.http import (
    BitbucketClient,
    BitbucketError,
)
from bbmirror.rows import RowError
from bbmirror.store import rowcheck
from bbmirror.store.db import Store, SyncState

OVERLAP = timedelta(seconds=60)


# What a row function may raise on a malformed object (RecursionError: JSON nested too deep).
UNCONVERTIBLE = (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError)


class Engine(StatusPolicy):
    """Runs every stream of one source against one store."""

    blind: frozenset[str] = frozenset()  # lists whose absences prove nothing (runs.py)

    def __init__(
        self,
        store: Store,
        client: BitbucketClient,
        source: Source,
        streams: dict[str, Stream],
        options: Options,
        summary: Summary,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.source = source
        self.streams = streams
        self.options = options
        self.summary = summary
        self.progress = progress or (lambda repo, stream, n: None)
        self.checked: dict[str, dict] = {}  # objects fetched by the preflight
        self.denied: dict[str, str] = {}  # skip key -> reason: families this run cannot read
        self.pending: list[tuple[str, str, str]] = []  # notes made before the store was open
        self.condensed: set[str] = set()  # workspaces known only from a repository (403)
        # (stream, repository id) -> child streams to fetch for every parent (coverage.py)
        self.backfill: dict[tuple[str, str], frozenset[str]] = {}
        # (stream, repository id) whose children are queued, not read (deferred.py)
        self.deferring: set[tuple[str, str]] = set()

    async def preflight(self) -> None:
        """Check credentials and named things before the run writes anything."""
        raise NotImplementedError

    async def run(self) -> None:
        """Every stream of the source, in the order its API needs."""
        raise NotImplementedError

    def wanted(self, name: str) -> bool:
        return not self.options.only or name in self.options.only

    # ----------------------------------------------------------------- writing

    def to_rows(self, stream: Stream, obj: dict, ctx: Context) -> RowSet | None:
        """Turn one API object into rows SQLite can hold, quarantining it if that fails."""
        try:
            if not isinstance(obj, dict):
                raise RowError(f"a list entry is a JSON {type(obj).__name__}, not an object")
            return rowcheck.check(stream.rows(obj, ctx))
        except UNCONVERTIBLE as exc:
            self.quarantine(stream.name, f"{type(exc).__name__}: {exc}", obj)
            return None

    def quarantine(self, stream: str, reason: str, payload: object, *, counts: bool = True) -> None:
        """Record a problem in ``sync_errors``; ``counts`` False for a deliberate skip."""
        text = rowcheck.payload_text(payload)
        reason = rowcheck.safe_text(reason)
        with self.store.transaction():
            self.store.record_error(self.summary.run_id, self.source.name, stream, reason, text)
        if counts:
            self.summary.errors += 1
        else:
            self.summary.skipped += 1

    def write(self, rowset: RowSet) -> None:
        self.summary.add(self.store.write(rowset))

    # ----------------------------------------------------------------- streams

    async def run_full(self, stream: Stream, ctx: Context, where: dict[str, str]) -> list[dict]:
        """Read a whole list, write it, and tombstone rows of the same scope that vanished."""
        rowset: RowSet = {}
        objects: list[dict] = []
        clean = True
        try:
            async for obj in self.objects_of(stream, stream.path.format(**ctx)):
                rows = self.to_rows(stream, obj, ctx)
                if rows is None:
                    clean = False
                    continue
                objects.append(obj)
                merge(rowset, rows)
        except BitbucketError as exc:
            if stream.meaning(exc.status) not in (ABSENT, REMOVED):
                raise  # the caller's guard applies the rest of the policy
            self.failure(stream, exc, ctx)
            return []  # no tracker, or a removed one: a normal state, nothing to mirror
        with self.store.transaction():
            self.write(rowset)
            if clean and stream.name not in self.blind:  # quarantined or unseen ≠ deleted
                keep = {r["id"] for r in rowset.get(stream.table, ())}
                gone = self.store.tombstone(stream.table, where, keep, now())
                self.summary.add({stream.table: gone})
        self.progress(ctx.get("full_name", ""), stream.name, len(objects))
        return objects

    async def read_parents(
        self, stream: Stream, ctx: Context, values: list[dict], *, force: bool = False
    ) -> ParentPage:
        """Rows for a page of parents, and the children of those that changed."""
        parents = [(obj, rows) for obj in values if (rows := self.to_rows(stream, obj, ctx))]
        changed = self.changed(stream, [rows for _, rows in parents])
        if force:
            changed = {r["id"] for _, rows in parents for r in rows.get(stream.table, ())}
        due: dict[str, list] = {}
        if (stream.name, ctx.get("repository_id", "")) in self.deferring:
            children, failed, due = [], set(), self.due_children(stream, ctx, parents, changed)
        else:
            children, failed = await self.fetch_children(stream, ctx, parents, changed)
        tried = {
            obj["id"]
            for obj, rows in parents
            if isinstance(obj.get("id"), int)
            and any(r["id"] in changed and r["id"] not in due for r in rows.get(stream.table, ()))
        }
        # A parent that could not be converted is read again by id next run (with backoff):
        # the watermark may pass its true time, and it must not be lost behind it.
        converted = {id(obj) for obj, _ in parents}
        unread = {
            obj["id"]
            for obj in values
            if isinstance(obj, dict) and type(obj.get("id")) is int and id(obj) not in converted
        }
        return ParentPage(parents, children, failed | unread, tried | unread, due)

    def write_parents(self, stream: Stream, page: ParentPage, state: SyncState) -> None:
        """Write a page of parents and their children; call inside the page's transaction.

        Parents whose children could not be read are written all the same (the walk must go
        on) and noted in ``state`` to be read again, children and all, next run.
        """
        for _, rows in page.parents:
            self.write(rows)
            self.tombstone_owned(stream, rows)
        self.write_children(page.children)
        self.children_read(stream, state, {n for n in page.tried - page.failed})
        deferred.enqueue(state, page.due)
        if page.failed or state.extra.get("redo_failures"):
            settle(state, page.tried, page.failed)
        if page.failed:
            state.extra["redo"] = sorted(set(state.extra.get("redo", [])) | page.failed)

    def due_children(
        self, stream: Stream, ctx: Context, parents: list[tuple[dict, RowSet]], changed: set[str]
    ) -> dict[str, list]:
        """Per parent row id, [API number, child streams] a page's parents are due (a flavour
        may narrow it: flavours/cloud/pr_children.py)."""
        return deferred.due(self, stream, ctx, parents, changed)

    def fetch_due_child(
        self, name: str, ctx: Context, parent_id: str, names: list[str], row: dict | None = None
    ) -> Awaitable[ChildRows | None]:
        """One due child list of one parent (``row``: as just listed; None: as stored); a
        flavour may derive it instead (a PR's commits from the graph: engine/graph_commits.py)."""
        return self.fetch_child(self.streams[name], ctx, parent_id)

    def children_read(self, stream: Stream, state: SyncState, numbers: set[int]) -> None:
        """Hook, inside the transaction: parents (API numbers) whose children were written."""

    def write_children(self, children: list[ChildRows]) -> None:
        """Child lists and the tombstones of what they no longer hold; inside a transaction."""
        for child in children:
            self.write(child.rows)
            for table, where, keep in child.tombstones:
                self.summary.add({table: self.store.tombstone(table, where, keep, now())})

    def tombstone_owned(self, stream: Stream, rowset: RowSet) -> None:
        """Rows a parent carries in full (a PR's participants): drop the ones it no longer has."""
        main = rowset.get(stream.table) or []
        if not main:
            return
        for owned in stream.owns:
            keep = {r["id"] for r in rowset.get(owned.table, ())}
            where = {owned.column: main[0]["id"], **dict(owned.only)}
            self.summary.add({owned.table: self.store.tombstone(owned.table, where, keep, now())})

    def changed(self, stream: Stream, rowsets: list[RowSet]) -> set[str]:
        """Ids of parents that are new, revived or whose change markers moved."""
        rows = [r for rs in rowsets for r in rs.get(stream.table, ())]
        if self.options.full or self.options.reconcile and stream.markers:
            return {r["id"] for r in rows}
        markers = stream.markers or (stream.cursor,)
        stored = self.store.current(stream.table, [r["id"] for r in rows], markers)
        return {r["id"] for r in rows if stored.get(r["id"]) != tuple(r.get(m) for m in markers)}

    async def fetch_children(
        self,
        stream: Stream,
        ctx: Context,
        parents: list[tuple[dict, RowSet]],
        changed: set[str],
    ) -> tuple[list[ChildRows], set[int]]:
        """Every due child list of a page's parents (``due_children``), concurrently; and the
        API numbers of the parents some child list of which could not be read."""
        heads = [rows[stream.table][0] for _, rows in parents if rows.get(stream.table)]
        listed = {row["id"]: row for row in heads}
        jobs, owners = [], []
        for parent_id, (number, names) in self.due_children(stream, ctx, parents, changed).items():
            child_ctx = {**ctx, **stream.child_context({"id": number}, parent_id)}
            for name in names:
                row = listed[parent_id]
                jobs.append(self.fetch_due_child(name, child_ctx, parent_id, names, row))
                owners.append(number)
        results = await asyncio.gather(*jobs)
        failed = {owner for owner, result in zip(owners, results, strict=True) if result is None}
        return [r for r in results if r is not None], failed

    async def fetch_child(self, stream: Stream, ctx: Context, parent_id: str) -> ChildRows | None:
        """One child list of one parent, complete, with what to tombstone."""
        path = stream.path.format(**ctx)
        rowset: RowSet = {}
        clean = True
        if self.is_denied(stream, ctx):
            return None  # skipped this run (noted once); the parent is read again later
        try:
            async for obj in self.objects_of(stream, path):
                rows = self.to_rows(stream, obj, ctx)
                if rows is None:
                    clean = False
                    continue
                merge(rowset, rows)
        except BitbucketError as exc:
            meaning = self.failure(stream, exc, ctx)
            if meaning in (ABSENT, REMOVED):
                return ChildRows({}, [])  # not there, or removed upstream: keep what is mirrored
            if meaning == DELETED:
                reason = (
                    f"deleted upstream meanwhile? {stream.name} of {parent_id} answered "
                    f"{exc.status}; the parent is read again next run"
                )
                self.note(stream.name, reason, {"parent": parent_id, "url": exc.url})
            return None  # the parent goes on the redo list, with backoff
        tombstones = []
        if clean:  # a quarantined record's row must not be mistaken for a deletion
            owned = [Owned(stream.table, stream.scope, stream.scope_filter), *stream.owns]
            for item in owned:
                if item.column:
                    keep = {r["id"] for r in rowset.get(item.table, ())}
                    where = {item.column: parent_id, **dict(item.only)}
                    tombstones.append((item.table, where, keep))
        return ChildRows(rowset, tombstones)

    async def objects_of(self, stream: Stream, path: str):
        """Every object of a list, paged or answered as one bare array."""
        if not stream.paged:
            for obj in await self.client.get_list(path):
                yield obj
            return
        params = [*stream.params, *self.page_size(stream)]
        async for page in self.client.pages(path, params):
            for obj in page.values:
                yield obj  # a non-object entry is quarantined by to_rows, never dropped

    def page_size(self, stream: Stream) -> list[tuple[str, str]]:
        """Cloud's ``pagelen`` or Server's ``limit``."""
        name = "limit" if self.client.paging == "server" else "pagelen"
        return [(name, str(stream.pagelen))]

    def plan_children(
        self, stream: Stream, state: SyncState, scope: str, resuming: bool
    ) -> Coverage:
        """Which children this run fetches for which parents (see coverage.py)."""
        children = coverage.plan(self.store, stream, state, self.wanted, resuming)
        self.backfill[(stream.name, scope)] = children.backfill
        return children

    def collect_garbage(self, repository_id: str, refs: dict[str, str]) -> None:
        """Tombstone commits that no ref and no pull request reaches any more, when due."""
        due = garbage.due(self.store, self.source.name, repository_id, refs, self.options)
        if due is not None:
            self.summary.add(garbage.collect(self.store, due, refs, now()))

    async def reconcile_ids(self, stream: Stream, ctx: Context, where: dict[str, str]) -> None:
        """A cheap id scan (``fields=next,values.id``) that tombstones what vanished."""
        path = stream.path.format(**ctx)
        params = [*stream.reconcile_params, ("fields", "next,values.id"), ("pagelen", "100")]
        ids: set[int] = set()
        try:
            async for page in self.client.pages(path, params):
                ids.update(v["id"] for v in page.values if isinstance(v, dict) and "id" in v)
        except BitbucketError as exc:
            if stream.meaning(exc.status) not in (ABSENT, REMOVED):
                raise
            return  # a tracker that is gone says nothing about which issues were deleted
        keep = {stream.key.format(**ctx, id=i) for i in ids}
        with self.store.transaction():
            self.tombstone_missing(stream, where, keep)

    def tombstone_missing(self, stream: Stream, where: dict[str, str], keep: set[str]) -> None:
        """What a complete id list no longer has was deleted; its children go with it."""
        when = now()
        self.summary.add({stream.table: self.store.tombstone(stream.table, where, keep, when)})
        for table, column in stream.cascade:
            gone = self.store.tombstone_children(table, column, stream.table, when)
            self.summary.add({table: gone})

    async def guarded(self, name: str, work, ctx: Context | None = None):
        """Run one stream under the declared status policy; the other streams go on."""
        stream = self.stream_named(name)
        if stream is not None and self.is_denied(stream, ctx):
            work.close()  # skipped this run, said once: no request spent
            return None
        try:
            return await work
        except BitbucketError as exc:
            if stream is None:
                self.failure(Stream(name, "", "", lambda o, c: {}), exc, ctx)
            else:
                self.failure(stream, exc, ctx)
            return None


__all__ = [
    "ChildRows",
    "Engine",
    "Options",
    "ParentPage",
    "Summary",
    "SyncError",
    "before_watermark",
    "merge",
    "cursor_of",
    "page_values",
]
