"""Bitbucket Cloud's engine: the runner with Cloud's walkers, discovery and hooks.

The order of work is ``CLOUD_PLAN`` (plan.py), run by ``engine/runner.py``; this module holds
only what is Cloud's own (reference: bitbucket-cloud.md §3, §9):

* Pull requests and issues are read in ascending ``updated_on`` with keyset paging
  (engine/keyset.py); commits ``include`` the new branch and tag heads and ``exclude`` the
  mirrored ones (engine/heads.py); the small lists are re-listed every run, with tombstones.
* A renamed repository is read again in full (engine/renames.py), the statuses of open PRs
  still building are read again (engine/freshness.py), and ``--reconcile`` scans the ids of
  pull requests and issues.
"""

from __future__ import annotations

from bbmirror.engine import freshness, renames
from bbmirror.engine.heads import HeadsWalker
from bbmirror.engine.keyset import KeysetWalker
from bbmirror.engine.runner import Runner, Unit
from bbmirror.flavours.cloud.discovery import CloudDiscovery
from bbmirror.flavours.cloud.plan import CLOUD_PLAN


class CloudSync(CloudDiscovery, Runner, KeysetWalker, HeadsWalker):
    """The order of work for one Bitbucket Cloud source."""

    plan = CLOUD_PLAN

    @staticmethod
    def ref_target(ref: dict) -> tuple[str, str | None, bool]:
        """A branch or tag → (name, target commit, default branch?)."""
        return ref["name"], (ref.get("target") or {}).get("hash"), False

    async def repository_units(self, workspaces: list[Unit]) -> list[Unit]:
        """The repositories the workspace level found, one unit each."""
        repos = [r for ws in workspaces for r in ws.found.get("repositories") or ()]
        self.summary.repositories = len(repos)
        units = []
        for repo in repos:
            workspace, slug = repo["full_name"].split("/", 1)
            ctx = {
                "source": self.source.name,
                "workspace": workspace,
                "slug": slug,
                "full_name": repo["full_name"],
                "repository_id": repo["uuid"],
            }
            units.append(Unit(ctx, repo, {"repository_id": repo["uuid"]}))
        return units

    def check_renamed(self, unit: Unit) -> None:
        """Level hook: a renamed repository is read again, all of it (engine/renames.py)."""
        renames.check(self.store, self.source.name, unit.scope, unit.ctx["full_name"])

    async def reread_statuses(self, unit: Unit, _: object) -> None:
        """After pull requests: the statuses of open PRs whose source commit still builds."""
        if self.wanted("pr_statuses") and not self.options.reconcile:
            building = freshness.reread_building(self, unit.ctx, unit.scope)
            await self.guarded("pr_statuses", building, unit.ctx)

    async def reconcile(self, unit: Unit) -> None:
        """Level hook, on ``--reconcile``: id scans tombstone deleted PRs and issues."""
        if not self.options.reconcile:
            return
        tracker = bool(unit.obj.get("has_issues")) and not self.is_removed(unit.ctx)
        for name in ("pullrequests", "issues"):
            if self.wanted(name) and (name == "pullrequests" or tracker):
                scan = self.reconcile_ids(self.streams[name], unit.ctx, unit.where)
                await self.guarded(f"reconcile {name}", scan, unit.ctx)
