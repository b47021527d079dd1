"""Which children a changed Cloud pull request costs (issue 14).

* Activity and comments come from the repository's activity feed (engine/feed.py), read before
  the pull requests. A feed read from its start (a first sync, ``--full``, ``--reconcile``)
  holds every entry and every comment's current text as of the walk's start: no PR changed
  before then needs its own lists (one changed since, or during a walk a kill interrupted and
  a later run resumed, is treated as below). A plain run
  reads the feed's tail, which has no entry for an edited or deleted comment: a changed PR's
  comments are read (as before: not when ``comment_count`` is 0 and none is mirrored), and its
  activity list only when a comment changed or vanished (an entry embeds its comment), when
  its title moved (every entry embeds it), or when the mirror cannot account for its
  ``updated_on`` (no activity entry at that instant) or its ``comment_count``. That also keeps
  a changed PR whole should the feed's undocumented order end the tail too early.
* Commits are derived from the mirrored commit graph (engine/pr_graph.py) when the source and
  destination commits are mirrored; otherwise (forks, deleted branches) the PR's list is read.
* Commits and build statuses are read only when the PR's source (or, for commits, destination)
  commit moved, or the PR is new; engine/freshness.py and ``--reconcile`` re-read statuses.
* Without a feed this run (it failed, or ``--only`` left it out) and for PRs read again after
  a failure, every child list is read as before.
"""

from __future__ import annotations

import json

from bbmirror.engine.base import ChildRows, merge
from bbmirror.engine.deferred import nothing_to_read
from bbmirror.engine.feed import COMPLETE
from bbmirror.engine.forced import FORCED, ForcedParents
from bbmirror.engine.graph_commits import GraphCommits
from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.flavours.cloud.rows_git import pr_commit_row

FEED = "feed"  # context key: COMPLETE, TAIL or "" (no feed this run)
FEED_TOP = "feed_top"  # context key: the newest entry when the feed's walk began
MARKERS = ("source_commit", "destination_commit", "updated_on", "source_repository_id", "title")


class PrChildren(ForcedParents, GraphCommits):
    """Cloud PR children at a fraction of the requests (see the module docstring)."""

    @staticmethod
    def link_row(hash_: str, source: str, repo_id: str, pullrequest_id: str) -> dict:
        """A derived ``pullrequest_commits`` row, as the per-PR list writes it."""
        return pr_commit_row(hash_, source, repo_id, pullrequest_id, repo_id)

    def due_children(
        self, stream: Stream, ctx: Context, parents: list[tuple[dict, RowSet]], changed: set[str]
    ) -> dict[str, list]:
        """The child lists each PR of a page needs (read at once, or queued for later)."""
        if stream.name != "pullrequests":
            return super().due_children(stream, ctx, parents, changed)
        backfill = self.backfill.get((stream.name, ctx.get("repository_id", "")), frozenset())
        ids = [rows[stream.table][0]["id"] for _, rows in parents if rows.get(stream.table)]
        stored = self.store.current(stream.table, ids, MARKERS)
        due: dict[str, list] = {}
        for obj, rows in parents:
            main = rows.get(stream.table) or []
            if not main:
                continue
            row = main[0]
            parent_id = row["id"]
            names = set(backfill)
            if ctx.get(FEED):  # the feed's own watermark keeps activity and comments whole
                names -= {"pr_activity", "pr_comments"}
            if parent_id in changed:
                names |= self.gate(ctx, obj, row, stored.get(parent_id), stream.children)
            wanted = [
                name
                for name in sorted(names)
                if self.wanted(name)
                and not nothing_to_read(self, self.streams[name], obj, parent_id)
            ]
            if wanted:
                due[parent_id] = [obj.get("id"), wanted]
        return due

    async def fetch_due_child(
        self, name: str, ctx: Context, parent_id: str, names: list[str], row: dict | None = None
    ) -> ChildRows | None:
        """A changed PR's comments with its activity if need be; commits from the graph
        (engine/graph_commits.py); else the list."""
        if name == "pr_comments" and ctx.get(FEED) and "pr_activity" not in names:
            return await self.comments_then_activity(ctx, parent_id)
        return await super().fetch_due_child(name, ctx, parent_id, names, row)

    def gate(
        self, ctx: Context, obj: dict, row: dict, old: tuple | None, children: tuple[str, ...]
    ) -> set[str]:
        """The child lists a changed PR needs this run (see the module docstring)."""
        names = set(children)
        if ctx.get(FEED) and not ctx.get(FORCED):
            if ctx[FEED] == COMPLETE and (row.get("updated_on") or "") <= ctx.get(FEED_TOP, ""):
                names -= {"pr_activity", "pr_comments"}  # the whole feed, read after this
            elif (old is None or old[4] == row.get("title")) and self.explained(obj, row):
                names.discard("pr_activity")  # comments_then_activity reads it if need be
        if ctx.get(FORCED) or self.options.full or old is None:
            return names
        source_moved = old[0] != row.get("source_commit") or old[3] != row.get(
            "source_repository_id"
        )
        if not source_moved:
            names.discard("pr_statuses")  # read once per source commit
            if old[1] == row.get("destination_commit"):  # both follow source..destination
                names -= {"pr_commits", "pr_diffstat"}
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

    async def comments_then_activity(self, ctx: Context, parent_id: str) -> ChildRows | None:
        """A changed PR's comments; its activity list too when a comment changed or vanished
        (an edit or a deletion makes no feed entry, and an entry embeds its comment)."""
        # The whole JSON (store/slim.py stores only what the columns don't hold), as objects.
        sql = "SELECT id, json FROM comments_json WHERE pullrequest_id = ? AND deleted_at IS NULL"
        stored = self.store.conn.execute(sql, (parent_id,)).fetchall()
        before = {key: json.loads(text) for key, text in stored}
        comments = await self.fetch_child(self.streams["pr_comments"], ctx, parent_id)
        if comments is None:
            return None
        after = {r["id"]: json.loads(r["json"]) for r in comments.rows.get("comments", ())}
        if after == before:
            return comments
        activity = await self.fetch_child(self.streams["pr_activity"], ctx, parent_id)
        if activity is None:
            return None
        rows: RowSet = {}
        merge(rows, comments.rows)
        merge(rows, activity.rows)
        return ChildRows(rows, [*comments.tombstones, *activity.tombstones])
