"""A Data Center pull request's files and lines, read once per source and target commit.

One request per PR: ``…/pull-requests/{id}/diff?contextLines=0&withComments=false`` carries
every file with its added and removed lines (``…/changes`` has no lines, so it alone cannot
size a PR, and both would be two requests). Without context lines a diff is as small as it can
be. Data Center caps a diff's lines (``page.max.diff.lines``): a truncated diff's cut file has
NULL lines, and only then is ``…/changes`` asked (one page, ``start`` ignored) for the files
the diff left out, with NULL lines too; a changes page that is not the last is said in
``sync_errors``. A changed PR whose source and destination commits did not move is not asked
again (its diff is the same); a new PR, a backfill, ``--full`` and a re-read after a failure
ask.
"""

from __future__ import annotations

from bbmirror.engine.base import merge
from bbmirror.engine.batches import ChildRows
from bbmirror.engine.forced import FORCED, ForcedParents
from bbmirror.engine.streams import ABSENT, REMOVED, Context, RowSet, Stream
from bbmirror.flavours.server import rows_prsize
from bbmirror.http import BitbucketError

DIFF = "pr_diff"
DIFF_PARAMS = [("contextLines", "0"), ("withComments", "false"), ("whitespace", "show")]
CHANGES_LIMIT = 1000  # the default hard limit; the server says what it applied
# The diff is the effective one (§2.10), from the merge base with the target: a move of either
# end (``fromRef``/``toRef.latestCommit``) may change it.
_ENDS = ("source_commit", "destination_commit")


class DcPrSize(ForcedParents):
    """Which PRs need their diff, and reading it (see the module docstring)."""

    def due_children(
        self, stream: Stream, ctx: Context, parents: list[tuple[dict, RowSet]], changed: set[str]
    ) -> dict[str, list]:
        due = super().due_children(stream, ctx, parents, changed)
        if stream.name != "pullrequests" or self.options.full or ctx.get(FORCED):
            return due
        backfill = self.backfill.get((stream.name, ctx.get("repository_id", "")), frozenset())
        if DIFF in backfill:
            return due
        rows = {r["id"]: r for _, rs in parents for r in rs.get(stream.table, ())}
        stored = self.store.current(stream.table, list(due), _ENDS)
        for parent_id, (_, names) in due.items():
            old = stored.get(parent_id)
            if DIFF in names and old == tuple(rows[parent_id][c] for c in _ENDS):
                names.remove(DIFF)
        return {k: v for k, v in due.items() if v[1]}

    async def fetch_due_child(
        self, name: str, ctx: Context, parent_id: str, names: list[str], row: dict | None = None
    ) -> ChildRows | None:
        if name != DIFF:
            return await super().fetch_due_child(name, ctx, parent_id, names, row)
        if row is None:
            stored = self.store.current("pullrequests", [parent_id], ("source_commit",))
            row = {"source_commit": (stored.get(parent_id) or (None,))[0]}
        stream = self.streams[DIFF]
        if self.is_denied(stream, ctx):
            return None
        ctx = {**ctx, "source_commit": row.get("source_commit") or ""}
        path = stream.path.format(**ctx)
        try:
            body = await self.client.get(path, DIFF_PARAMS)
            rows = self._diff_rows(body, ctx)
            if body.get("truncated") is True:
                await self._left_out(path.rsplit("/", 1)[0] + "/changes", ctx, rows)
        except BitbucketError as exc:
            meaning = self.failure(stream, exc, ctx)
            return ChildRows({}, []) if meaning in (ABSENT, REMOVED) else None
        keep = {r["id"] for r in rows.get("pullrequest_files", ())}
        return ChildRows(rows, [("pullrequest_files", {"pullrequest_id": parent_id}, keep)])

    def _diff_rows(self, body: dict, ctx: Context) -> RowSet:
        rows: RowSet = {}
        for obj in body.get("diffs") or ():
            found = self.to_rows(self.streams[DIFF], obj, ctx)
            if found is not None:
                merge(rows, found)
        return rows

    async def _left_out(self, path: str, ctx: Context, rows: RowSet) -> None:
        """The files a truncated diff left out, from the PR's one page of changes."""
        page = await self.client.get(
            path, [("limit", str(CHANGES_LIMIT)), ("withComments", "false")]
        )
        have = {r["id"] for r in rows.get("pullrequest_files", ())}
        for obj in page.get("values") or ():
            try:
                found = rows_prsize.change_file(
                    obj,
                    source=ctx["source"],
                    repository_id=ctx["repository_id"],
                    pullrequest_id=ctx["pullrequest_id"],
                    source_commit=ctx["source_commit"],
                )
            except ValueError as exc:
                self.quarantine(DIFF, str(exc), {"url": path})
                continue
            if found["pullrequest_files"][0]["id"] not in have:
                merge(rows, found)
        if page.get("isLastPage") is False:
            reason = (
                f"pull request {ctx.get('number')} of {ctx.get('full_name', '')} changes more "
                "files than one changes page lists: its file list is incomplete"
            )
            self.note(DIFF, reason, {"parent": ctx["pullrequest_id"], "url": path})
