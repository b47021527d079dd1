"""A pull request's commit list from the mirrored graph instead of a request (issue 14).

Both flavours list a PR's commits per PR (Cloud ``…/pullrequests/{id}/commits``, Data Center
``…/pull-requests/{id}/commits``): one request per changed PR, and on a first sync one per PR.
When the PR's source and destination commits are mirrored, the list is ``git log
destination..source`` over ``commit_parents`` (engine/pr_graph.py), so the links are written
without asking; otherwise (a fork, a deleted branch, a squash merge, a parent the mirror lacks)
the API is asked as before. The graph is loaded once per repository and run, when the first
PR asks: queued children are read after the commit walk of the same run (engine/due.py).
"""

from __future__ import annotations

from collections.abc import Callable

from bbmirror.engine import pr_graph
from bbmirror.engine.base import Engine
from bbmirror.engine.batches import ChildRows
from bbmirror.engine.streams import Context

MARKERS = ("source_commit", "destination_commit", "source_repository_id", "state", "merge_commit")
LinkRow = Callable[[str, str, str, str], dict]  # (hash, source, repository id, PR id) → row


class GraphCommits(Engine):
    """``fetch_due_child`` of ``pr_commits`` from the graph when it can say them."""

    link_row: LinkRow  # the flavour's ``pullrequest_commits`` row for one hash
    # PR states whose recorded tips give its commits (None: every state). Data Center moves a
    # closed PR's target tip on: there an open PR's tips say its commits, and a merged PR's
    # source and its merge commit's first parent (the target when it merged) do.
    derivable_states: frozenset[str] | None = None
    graphs: dict[str, pr_graph.Graph]

    async def fetch_due_child(
        self, name: str, ctx: Context, parent_id: str, names: list[str], row: dict | None = None
    ) -> ChildRows | None:
        if name == "pr_commits":
            derived = self.from_graph(ctx.get("repository_id", ""), parent_id, row)
            if derived is not None:
                return derived
        return await super().fetch_due_child(name, ctx, parent_id, names, row)

    def from_graph(self, repo_id: str, parent_id: str, row: dict | None) -> ChildRows | None:
        """The PR's commit links from the mirrored graph, or None when the API must be asked.

        ``row`` is the PR as just listed; None reads it as stored (a queued child, whose PR
        row its list wrote earlier in the run)."""
        if row is None:
            stored = self.store.current("pullrequests", [parent_id], MARKERS).get(parent_id)
            row = dict(zip(MARKERS, stored or (None,) * len(MARKERS), strict=True))
        if row.get("source_repository_id") not in (None, repo_id):
            return None  # a fork's commits live in another repository
        if not hasattr(self, "graphs"):
            self.graphs = {}
        if repo_id not in self.graphs:
            self.graphs[repo_id] = pr_graph.load(self.store.conn, repo_id)
        graph = self.graphs[repo_id]
        destination = row.get("destination_commit")
        states = self.derivable_states
        if states is not None and str(row.get("state") or "").upper() not in states:
            merge = graph.resolve(row.get("merge_commit")) if row.get("state") == "MERGED" else None
            if merge is None or not graph.parents.get(merge):
                return None
            destination = graph.parents[merge][0]  # the target branch when the PR merged
        found = pr_graph.pr_commits(graph, row.get("source_commit"), destination)
        if found is None:
            return None
        links = [type(self).link_row(h, self.source.name, repo_id, parent_id) for h in found]
        keep = {link["id"] for link in links}
        tombstone = ("pullrequest_commits", {"pullrequest_id": parent_id}, keep)
        return ChildRows({"pullrequest_commits": links}, [tombstone])
