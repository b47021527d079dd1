"""Which children a changed Cloud pull request costs (issue 14).

* Activity and comments come from the repository's activity feed (engine/feed.py), read before
  the pull requests. A feed read from its start (a first sync, ``--full``, ``--reconcile``)
  holds every entry and every comment's current text: no PR needs its own lists. A plain run
  reads the feed's tail, which has no entry for an edited or deleted comment; such a change
  moves the PR's ``updated_on``, so a PR's comments and activity are read again when the
  mirror cannot account for its ``updated_on`` (no activity entry at that instant) or for its
  ``comment_count`` (the live comments mirrored differ). That also keeps a changed PR whole
  should the feed's undocumented order end the tail too early; the PR's activity list drops
  a hard-deleted comment's entry, as the feed does. An edit followed by newer activity on the
  same PR before the next run is seen by ``--reconcile`` only (README "Limits").
* Commits are derived from the mirrored commit graph (engine/pr_graph.py) when the source and
  destination commits are mirrored; otherwise (forks, deleted branches) the PR's list is read.
* Commits and build statuses are read only when the PR's source (or, for commits, destination)
  commit moved, or the PR is new; engine/freshness.py and ``--reconcile`` re-read statuses.
* Without a feed this run (it failed, or ``--only`` left it out) and for PRs read again after
  a failure, every child list is read as before.
"""

from __future__ import annotations

import asyncio

from bbmirror.engine import pr_graph
from bbmirror.engine.base import ChildRows, Engine
from bbmirror.engine.feed import COMPLETE
from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.flavours.cloud.rows_git import pr_commit_row

FEED = "feed"  # context key: COMPLETE, TAIL or "" (no feed this run)
FORCED = "forced"  # context key: parents read again after a failure get every child
MARKERS = ("source_commit", "destination_commit", "updated_on", "source_repository_id")


class PrChildren(Engine):
    """Cloud PR children at a fraction of the requests (see the module docstring)."""

    graphs: dict[str, pr_graph.Graph]

    async def read_parents(
        self, stream: Stream, ctx: Context, values: list[dict], *, force: bool = False
    ):
        if force and stream.name == "pullrequests":
            ctx = {**ctx, FORCED: "1"}
        return await super().read_parents(stream, ctx, values, force=force)

    async def fetch_children(
        self,
        stream: Stream,
        ctx: Context,
        parents: list[tuple[dict, RowSet]],
        changed: set[str],
    ) -> tuple[list[ChildRows], set[int]]:
        if stream.name != "pullrequests":
            return await super().fetch_children(stream, ctx, parents, changed)
        repo_id = ctx.get("repository_id", "")
        backfill = self.backfill.get((stream.name, repo_id), frozenset())
        ids = [rows[stream.table][0]["id"] for _, rows in parents if rows.get(stream.table)]
        stored = self.store.current(stream.table, ids, MARKERS)
        jobs, owners = [], []
        derived: list[ChildRows] = []
        for obj, rows in parents:
            main = rows.get(stream.table) or []
            if not main:
                continue
            row = main[0]
            parent_id = row["id"]
            child_ctx = {**ctx, **stream.child_context(obj, parent_id)}
            names = set(backfill)
            if ctx.get(FEED):  # the feed's own watermark keeps activity and comments whole
                names -= {"pr_activity", "pr_comments"}
            if parent_id in changed:
                names |= self.gate(ctx, obj, row, stored.get(parent_id), stream.children)
            for name in sorted(names):
                child = self.streams[name]
                if not self.wanted(name) or self.nothing(child, obj, parent_id):
                    continue
                if name == "pr_commits":
                    graph_rows = self.from_graph(repo_id, row)
                    if graph_rows is not None:
                        derived.append(graph_rows)
                        continue
                jobs.append(self.fetch_child(child, child_ctx, parent_id))
                owners.append(obj.get("id"))
        results = await asyncio.gather(*jobs)
        failed = {owner for owner, result in zip(owners, results, strict=True) if result is None}
        return [*derived, *(r for r in results if r is not None)], failed

    def gate(
        self, ctx: Context, obj: dict, row: dict, old: tuple | None, children: tuple[str, ...]
    ) -> set[str]:
        """The child lists a changed PR needs this run (see the module docstring)."""
        names = set(children)
        if ctx.get(FORCED) or self.options.full or old is None:
            forced = bool(ctx.get(FORCED))
            if ctx.get(FEED) and not forced:
                names -= {"pr_activity", "pr_comments"}
                if ctx[FEED] != COMPLETE and not self.explained(obj, row):
                    names |= {"pr_activity", "pr_comments"}
            return names
        if ctx.get(FEED) and (ctx[FEED] == COMPLETE or self.explained(obj, row)):
            names -= {"pr_activity", "pr_comments"}
        source_moved = old[0] != row.get("source_commit") or old[3] != row.get(
            "source_repository_id"
        )
        if not source_moved:
            names.discard("pr_statuses")
            if old[1] == row.get("destination_commit"):
                names.discard("pr_commits")
        return names

    def explained(self, obj: dict, row: dict) -> bool:
        """Whether the mirror accounts for the PR's comments after the feed's tail: as many
        live comments as ``comment_count`` says, and an activity entry at ``updated_on``."""
        pid = row["id"]
        count = row.get("comment_count")
        stored = self.store.count("comments", {"pullrequest_id": pid, "deleted": 0})
        if count is not None and stored != count:
            return False
        if not count and not self.store.has_alive("comments", {"pullrequest_id": pid}):
            return True  # no comment to edit or delete
        when = row.get("updated_on")
        return bool(when) and self.store.has_alive(
            "pullrequest_activity", {"pullrequest_id": pid, "date": when}
        )

    def nothing(self, child: Stream, obj: dict, parent_id: str) -> bool:
        """The parent says there is nothing to read and nothing is mirrored (a zero count)."""
        return bool(
            child.skip
            and child.skip(obj)
            and not self.store.has_alive(child.table, {child.scope: parent_id})
        )

    def from_graph(self, repo_id: str, row: dict) -> ChildRows | None:
        """The PR's commits from the mirrored graph, or None when the API must be asked."""
        if row.get("source_repository_id") not in (None, repo_id):
            return None  # a fork's commits live in another repository
        if not hasattr(self, "graphs"):
            self.graphs = {}
        if repo_id not in self.graphs:
            self.graphs[repo_id] = pr_graph.load(self.store.conn, repo_id)
        found = pr_graph.pr_commits(
            self.graphs[repo_id], row.get("source_commit"), row.get("destination_commit")
        )
        if found is None:
            return None
        pid, source = row["id"], self.source.name
        links = [pr_commit_row(h, source, repo_id, pid, repo_id) for h in found]
        keep = {link["id"] for link in links}
        tombstone = ("pullrequest_commits", {"pullrequest_id": pid}, keep)
        return ChildRows({"pullrequest_commits": links}, [tombstone])
