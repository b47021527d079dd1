"""Bitbucket Data Center's engine: the runner with Server's walkers, discovery and hooks.

The order of work is ``SERVER_PLAN`` (plan.py), run by ``engine/runner.py``. Server has no
"updated since" filter (bitbucket-server.md §3), so:

* Pull requests are paged newest first down to the watermark (engine/newest.py); open PRs are
  re-listed every run unless that walk read the whole list; a PR whose change markers moved
  gets its activities and commits again (the commits from the mirrored graph when its tips
  are mirrored: engine/graph_commits.py), and its Jira issues when a commit names a candidate
  key (jira.py). A complete list (the first run, a non-monotonic order, ``--reconcile``)
  tombstones PRs that vanished.
* Commits are read per moved ref as graph ranges (engine/ranges.py), none for a tip the mirror
  already reaches. Build statuses of new tips are asked in bulk and listed for tips with
  builds (statuses.py), and asked again while a build runs.
"""

from __future__ import annotations

from collections.abc import Awaitable

from bbmirror.engine import freshness
from bbmirror.engine.graph_commits import GraphCommits
from bbmirror.engine.newest import NewestWalker
from bbmirror.engine.ranges import RangesWalker
from bbmirror.engine.runner import Runner, Unit
from bbmirror.flavours.server import pr_roots, rows_git, statuses
from bbmirror.flavours.server.discovery import ServerDiscovery
from bbmirror.flavours.server.jira import JiraDue, read_jira
from bbmirror.flavours.server.plan import SERVER_PLAN
from bbmirror.flavours.server.pr_size import DcPrSize


class ServerSync(
    ServerDiscovery, Runner, DcPrSize, JiraDue, GraphCommits, RangesWalker, NewestWalker
):
    """The order of work for one Bitbucket Data Center source."""

    plan = SERVER_PLAN
    link_row = staticmethod(rows_git.pr_commit_row)  # PR commits from the graph
    derivable_states = frozenset({"OPEN"})  # a closed PR's toRef moved on with its branch

    @staticmethod
    def ref_target(ref: dict) -> tuple[str, str | None, bool]:
        """A branch or tag → (name, tip commit, default branch?)."""
        return ref["displayId"], ref.get("latestCommit"), bool(ref.get("isDefault"))

    async def repository_units(self, sources: list[Unit]) -> list[Unit]:
        """The repositories the source level found (and the source wants), one unit each."""
        found = [
            repo
            for unit in sources
            for name in ("all_repositories", "repositories")
            for repo in unit.found.get(name) or ()
        ]
        repos = [r for r in found if self.source.wants(_full_name(r))]
        self.summary.repositories = len(repos)
        units = []
        for repo in repos:
            repo_id = f"{self.source.name}/repo/{repo['id']}"
            ctx = {
                "source": self.source.name,
                "project": repo["project"]["key"],
                "slug": repo["slug"],
                "full_name": _full_name(repo),
                "repository_id": repo_id,
            }
            units.append(Unit(ctx, repo, {"repository_id": repo_id}))
        return units

    def read_statuses(self, unit: Unit) -> Awaitable[None]:
        """Step ``statuses``: the tips still to read, and again those still building.

        Statuses come from state (tips walked whose statuses are still unread), so a failed
        walk, a failed read, a kill before this step or an --only that left them out loses
        none of them. Tips still building are asked again (freshness.py) and listed when their
        counts moved (statuses.py); --reconcile reads every tip's.
        """
        tips = set((self.refs(unit) or ({}, None))[0].values())
        building = freshness.tips_building(self.store, unit.scope, tips)
        extra = sorted(tips) if self.options.reconcile else []
        return statuses.read_statuses(self, unit.ctx, unit.scope, building, extra)

    async def read_pr_roots(self, unit: Unit) -> None:
        """Level hook: commits only live PRs reach, which the ref walk never lists (pr_roots.py)."""
        refs, default = self.refs(unit) or ({}, None)
        if refs and self.wanted("commits"):
            work = pr_roots.read_pr_roots(self, unit.ctx, unit.scope, refs, default)
            await self.guarded("commits", work, unit.ctx)

    def jira_issues(self, unit: Unit) -> Awaitable[None]:
        """Step ``pr_jira``: the Jira issues of changed PRs whose commits name a key."""
        return read_jira(self, unit.ctx, unit.scope)


def _full_name(repo: dict) -> str:
    return f"{(repo.get('project') or {}).get('key')}/{repo.get('slug')}"
