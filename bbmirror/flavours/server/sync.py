"""Bitbucket Data Center's engine: the runner with Server's walkers, discovery and hooks.

The order of work is ``SERVER_PLAN`` (plan.py), run by ``engine/runner.py``. Server has no
"updated since" filter (bitbucket-server.md §3), so:

* Pull requests are paged newest first down to the watermark (engine/newest.py); open PRs are
  re-listed every run; a PR whose change markers moved gets its activities, commits and Jira
  issues again. A complete list (the first run, a non-monotonic order, ``--reconcile``)
  tombstones PRs that vanished.
* Commits are read per moved ref as graph ranges (engine/ranges.py). Build statuses are read
  for every new tip (this module: Server's own step), and again while a build runs.
"""

from __future__ import annotations

import asyncio

from bbmirror.engine import freshness
from bbmirror.engine.base import ChildRows
from bbmirror.engine.newest import NewestWalker
from bbmirror.engine.ranges import STATUS_TODO, RangesWalker
from bbmirror.engine.runner import Runner, Unit
from bbmirror.engine.streams import Context
from bbmirror.flavours.server.discovery import ServerDiscovery
from bbmirror.flavours.server.plan import SERVER_PLAN


class ServerSync(ServerDiscovery, Runner, RangesWalker, NewestWalker):
    """The order of work for one Bitbucket Data Center source."""

    plan = SERVER_PLAN

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

    def read_statuses(self, unit: Unit):
        """Step ``statuses``: the tips still to read, and again those still building.

        Statuses come from state (tips walked whose statuses are still unread), so a failed
        walk, a failed read, a kill before this step or an --only that left them out loses
        none of them; --reconcile reads every tip's.
        """
        tips = set((self.refs(unit) or ({}, None))[0].values())
        if self.options.reconcile:
            extra = sorted(tips)
        else:
            extra = freshness.tips_building(self.store, unit.scope, tips)
        return self.statuses(unit.ctx, unit.scope, extra)

    async def statuses(self, ctx: Context, scope: str, extra: list[str]) -> None:
        """Build statuses of the tips still to read (plus ``extra``); each one read leaves the
        to-do list in the transaction that writes it, one that failed stays for the next run."""
        stream = self.streams["statuses"]
        state = self.store.get_state(self.source.name, scope, self.streams["commits"].name)
        heads = sorted({*(state.extra.get(STATUS_TODO, []) if state else []), *extra})
        if not heads:
            return
        jobs = [self.fetch_child(stream, {**ctx, "commit_hash": sha}, sha) for sha in heads]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        done = set()
        with self.store.transaction():
            for sha, child in zip(heads, results, strict=True):
                if isinstance(child, ChildRows):
                    self.write(child.rows)
                    done.add(sha)
            if state is not None:
                state.extra[STATUS_TODO] = sorted(set(state.extra.get(STATUS_TODO, [])) - done)
                self.store.put_state(state)
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _full_name(repo: dict) -> str:
    return f"{(repo.get('project') or {}).get('key')}/{repo.get('slug')}"
