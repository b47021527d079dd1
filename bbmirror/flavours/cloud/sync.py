"""Bitbucket Cloud's engine: the runner with Cloud's walkers, discovery and hooks.

The order of work is ``CLOUD_PLAN`` (plan.py), run by ``engine/runner.py``; this module holds
only what is Cloud's own (reference: bitbucket-cloud.md §3, §9):

* Pull requests and issues are read in ascending ``updated_on`` with keyset paging
  (engine/keyset.py); commits ``include`` the new branch and tag heads and ``exclude`` the
  mirrored ones (engine/heads.py); branches and tags come in one ``refs`` list (refs.py); the
  settings lists are re-read on a cadence (cadence.py); a tracker's first sync imports the
  issue export job (export_job.py).
* A renamed repository is read again in full (engine/renames.py), the statuses of open PRs
  still building are read again (engine/freshness.py), and ``--reconcile`` scans the ids of
  pull requests and issues.
"""

from __future__ import annotations

from bbmirror.engine import freshness, renames
from bbmirror.engine.feed import FeedRead, FeedWalker
from bbmirror.engine.heads import HeadsWalker
from bbmirror.engine.keyset import KeysetWalker
from bbmirror.engine.plan import Step
from bbmirror.engine.runner import Runner, Unit
from bbmirror.flavours.cloud import cadence, export_job, pipelines, refs
from bbmirror.flavours.cloud.discovery import CloudDiscovery
from bbmirror.flavours.cloud.insights import InsightsHook
from bbmirror.flavours.cloud.pipelines import PipelineWalker
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.flavours.cloud.pr_children import FEED, FEED_TOP, PrChildren
from bbmirror.flavours.cloud.pr_size import PrSize


class CloudSync(
    CloudDiscovery,
    Runner,
    PrSize,
    PrChildren,
    KeysetWalker,
    HeadsWalker,
    FeedWalker,
    PipelineWalker,
    InsightsHook,
):
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
        """Level hook: a renamed repository is read again, all of it (engine/renames.py), the
        settings lists and Pipelines runs too (their JSON holds its links)."""
        if renames.check(self.store, self.source.name, unit.scope, unit.ctx["full_name"]):
            cadence.forget(self, unit.ctx)
            pipelines.forget(self, unit.ctx)

    async def refs_list(self, unit: Unit) -> dict[str, str] | None:
        """Step ``branches``: branches and tags from one ``refs`` list, as commit heads."""
        found = await refs.read_refs(self, unit.ctx, unit.where)
        unit.facts["refs"] = None if found is None else (found, None)
        return found

    def feed_read(self, unit: Unit, read: FeedRead | None, _: Step) -> None:
        """After the activity feed: what the pull requests' children may take from it."""
        unit.ctx[FEED], unit.ctx[FEED_TOP] = (read.status, read.top or "") if read else ("", "")

    def settings_read(self, unit: Unit, result: object, step: Step) -> None:
        """After a settings list: remember when it was read whole (cadence.py)."""
        if result is not None:
            cadence.mark(self, unit.ctx, step.stream)

    async def issue_list(self, unit: Unit) -> object:
        """Step ``issues`` (parents): a first sync imports the export job, then the list."""
        await export_job.seed(self, unit.ctx)
        return await self.run_incremental(self.streams["issues"], unit.ctx, unit.scope)

    async def issue_children(self, unit: Unit) -> None:
        """Step ``issues`` (children): those the export left to read, then those queued."""
        await export_job.read_pending(self, unit.ctx)
        await self.run_due(self.streams["issues"], unit.ctx, unit.scope)

    async def reread_statuses(self, unit: Unit, _: object, __: Step) -> None:
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
