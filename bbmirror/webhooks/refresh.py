"""One target refreshed through the flavour's engine: the API says what the object is now.

* A pull request: ``GET`` that one PR, then ``Engine.read_parents(..., force=True)`` and
  ``write_parents`` for it: its row, the rows it owns (participants) and every child list
  (comments, activity, commits, statuses; Data Center: activities, commits, Jira links),
  with tombstones for what a list no longer holds, as a scheduled run writes them. The
  stream's watermark is left alone: the next poll still reads the PR, but finds its markers
  unchanged and skips its children; the plan's steps that follow pull requests (Data Center's
  Jira issues) run for it too. A PR the API no longer has (Data Center ``pr:deleted``)
  is tombstoned with its children, once its repository answers (a 404 for both is lost
  sight, not a deletion).
* A push: the plan's repository levels (``Runner.run_repository``) narrowed to branches, tags
  and commits (Cloud's heads walker, Data Center's ranges walker), so moved refs and new
  commits land as in a run.
* A whole repository (a flood folded by the queue): the plan's repository levels in full.

The repository comes from the mirror (its stored JSON), never from the payload: a delivery
for a repository the mirror does not hold refreshes nothing and is recorded as such.
"""

from __future__ import annotations

import json
from dataclasses import replace

from bbmirror.engine.base import Engine
from bbmirror.engine.outcome import Options
from bbmirror.engine.runner import Unit
from bbmirror.engine.streams import Context
from bbmirror.http import NotFound
from bbmirror.store.db import SyncState
from bbmirror.webhooks.events import PR, PUSH, Target
from bbmirror.webhooks.log import now

FRESH = "webhook"  # sync_state stream: when a repository was last refreshed by a webhook
REFS = frozenset({"branches", "tags", "commits"})


def stored_repository(engine: Engine, full_name: str) -> dict | None:
    """The mirrored repository's own JSON (alive), by WORKSPACE/SLUG or PROJECT/slug."""
    kind = engine.source.kind
    if kind == "server":
        key, _, slug = full_name.partition("/")
        sql = (
            "SELECT json FROM repositories WHERE source = ? AND deleted_at IS NULL"
            " AND lower(slug) = lower(?)"
        )
        args: tuple = (engine.source.name, slug)
    else:
        sql = (
            "SELECT json FROM repositories WHERE source = ? AND deleted_at IS NULL"
            " AND lower(full_name) = lower(?)"
        )
        args = (engine.source.name, full_name)
    for (text,) in engine.store.conn.execute(sql, args):
        repo = json.loads(text)
        if kind != "server" or str((repo.get("project") or {}).get("key")).lower() == key.lower():
            return repo
    return None


def context(engine: Engine, repo: dict) -> Context:
    """The context the flavour's repository discovery builds for this repository."""
    source = engine.source.name
    if engine.source.kind == "server":
        key = repo["project"]["key"]
        return {
            "source": source,
            "project": key,
            "slug": repo["slug"],
            "full_name": f"{key}/{repo['slug']}",
            "repository_id": f"{source}/repo/{repo['id']}",
        }
    workspace, slug = repo["full_name"].split("/", 1)
    return {
        "source": source,
        "workspace": workspace,
        "slug": slug,
        "full_name": repo["full_name"],
        "repository_id": repo["uuid"],
    }


async def refresh(engine: Engine, target: Target) -> str:
    """Refresh one target; say what was done (for the delivery log)."""
    repo = stored_repository(engine, target.repository)
    if repo is None:
        return "not mirrored"
    base = engine.options
    try:
        if target.what == PR:
            assert target.number is not None
            done = await refresh_pullrequest(engine, repo, target.number)
        else:
            only = REFS if target.what == PUSH else base.only
            engine.options = replace(base, only=only)
            await engine.run_repository(context(engine, repo), repo)  # type: ignore[attr-defined]
            done = "refreshed"
    finally:
        engine.options = base
    ctx = context(engine, repo)
    extra = {"refreshed_at": now(), "what": target.what, "number": target.number}
    engine.store.put_state(SyncState(engine.source.name, ctx["repository_id"], FRESH, extra=extra))
    return done


async def refresh_pullrequest(engine: Engine, repo: dict, number: int) -> str:
    """One PR and its children, as the API has them now."""
    stream = engine.streams["pullrequests"]
    ctx = context(engine, repo)
    if not engine.wanted("pullrequests"):
        return "not mirrored"
    listing = stream.path.format(**ctx)
    try:
        obj = await engine.client.get(f"{listing}/{number}")
    except NotFound:
        # Losing sight is not deletion (engine/runs.py): the PR is gone only if its
        # repository still answers; else the next run's visibility rule decides.
        try:
            await engine.client.get(listing.rsplit("/", 1)[0])
        except NotFound:
            return "repository not visible"
        where = {"repository_id": ctx["repository_id"], "number": number}
        with engine.store.transaction():
            engine.tombstone_missing(stream, where, set())
        return "gone"
    page = await engine.read_parents(stream, ctx, [obj], force=True)
    scope = ctx["repository_id"]
    state = engine.store.get_state(engine.source.name, scope, stream.name)
    state = state or SyncState(source=engine.source.name, scope=scope, stream=stream.name)
    with engine.store.transaction():
        engine.write_parents(stream, page, state)
        engine.store.put_state(state)  # due follow-ups; failures are read again next run
    await follow_ups(engine, ctx, repo)
    return "refreshed" if not page.failed else "partly refreshed"


async def follow_ups(engine: Engine, ctx: Context, repo: dict) -> None:
    """The plan's steps that run after pull requests (Data Center's Jira issues of the PRs
    whose children were just read), for this repository."""
    unit = Unit(ctx, repo, {"repository_id": ctx["repository_id"]})
    for level in engine.plan.levels[1:]:  # type: ignore[attr-defined]
        for step in level.steps:
            if "pullrequests" in step.after and engine.step_wanted(step):  # type: ignore[attr-defined]
                await engine.run_step(step, unit)  # type: ignore[attr-defined]


def refresh_options(options: Options | None) -> Options:
    """Webhook refreshes never reconcile or re-read everything."""
    return replace(options or Options(), full=False, reconcile=False, adopt_lister=False)
