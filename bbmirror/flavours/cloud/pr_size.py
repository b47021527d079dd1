"""A Cloud pull request's size: its diffstat, read once per source and destination commit.

``GET …/pullrequests/{id}/diffstat`` answers 302 to ``/diffstat/{w}/{r}:{src}%0D{dst}``
(``from_pullrequest_id``, ``topic=true``): following it costs two requests, and the client
never follows a redirect (a ``Location`` could hand the token to another host). The reference
says a two-commit spec with ``merge`` absent "produces a 3-way diff … the same behavior as pull
requests that show the 3-way diff" (§3.14), so one request,
``/diffstat/{source}..{destination}?pagelen=500``, gives the PR's diffstat from the commits its
row holds. A fork's source commit is not in the destination repository: such a PR's size is
not read, and the run says so once per repository (``sync_errors``). The gate
(pr_children.py) asks only for a new PR or one whose source or destination commit moved: a
clean sync reads the diffstat of the commits the PR row holds, so a stale one would differ.
"""

from __future__ import annotations

from bbmirror.engine.base import Engine
from bbmirror.engine.batches import ChildRows
from bbmirror.engine.streams import Context

DIFFSTAT = "pr_diffstat"
_MARKERS = ("source_commit", "destination_commit", "source_repository_id")


class PrSize(Engine):
    """``fetch_due_child`` of ``pr_diffstat``: the PR's spec from its row, one request."""

    async def fetch_due_child(
        self, name: str, ctx: Context, parent_id: str, names: list[str], row: dict | None = None
    ) -> ChildRows | None:
        if name != DIFFSTAT:
            return await super().fetch_due_child(name, ctx, parent_id, names, row)
        if row is None:  # a queued child: the PR row its list wrote earlier
            stored = self.store.current("pullrequests", [parent_id], _MARKERS).get(parent_id)
            row = dict(zip(_MARKERS, stored or (None,) * len(_MARKERS), strict=True))
        source, destination = row.get("source_commit"), row.get("destination_commit")
        repo_id = ctx.get("repository_id", "")
        if row.get("source_repository_id") not in (None, repo_id) or not source or not destination:
            self._unsized(ctx, parent_id)
            return ChildRows({}, [])  # nothing to ask; what is mirrored stays
        spec = {"spec": f"{source}..{destination}", "source_commit": source}
        return await self.fetch_child(self.streams[DIFFSTAT], {**ctx, **spec}, parent_id)

    def _unsized(self, ctx: Context, parent_id: str) -> None:
        """Say once per repository and run that some PR's size could not be read."""
        if not hasattr(self, "unsized"):
            self.unsized: set[str] = set()
        repo = ctx.get("repository_id", "")
        if repo in self.unsized:
            return
        self.unsized.add(repo)
        reason = (
            f"pull request size not read for {ctx.get('full_name') or repo}: a fork's (or a "
            "commit-less) pull request has no diffstat spec in its repository"
        )
        self.note(DIFFSTAT, reason, {"parent": parent_id})
