"""Bitbucket Cloud Pipelines: runs newest first down to what is mirrored, steps once complete.

How the field lists runs (reference bitbucket-cloud.md §3.20, checked against public reports):
oldest first by default, ``sort=-created_on`` newest first (``sort`` takes only
``created_on``, ``creator.uuid`` and ``run_creation_date``: BSERV-11032), ``page`` and
``pagelen`` up to 100, and pages that may lack a ``next`` link (BCLOUD-20639): pages are asked
by number, up to what ``size`` promises. Build numbers only grow, so:

- The list step (``pipeline_list``, level ``repository lists``) reads newest-first pages until
  a run at or below the *floor*: the highest build number mirrored, or just below the oldest
  run mirrored before it was COMPLETED (those are read again). A no-op costs one request per
  repository that uses Pipelines.
- A repository that never ran a pipeline answers an empty list (a 404 is taken the same way):
  it is remembered (``extra.absent_at``) and asked again only after ``settings_every`` (24 h,
  cadence.py), on ``--full`` or ``--reconcile``.
- Steps (``pipeline_steps``, level ``repository details``) are read once, when a run is first
  seen COMPLETED: queued in the list's transaction (``extra.steps_due``), read 25 runs at a
  time, each batch's rows, tombstones and queue in one transaction. A run still pending or in
  progress has no steps mirrored yet; a steps list that fails stays queued. ``--full`` reads
  the whole list and every completed run's steps again, and so does the run after a rename
  (``forget``: their JSON holds the repository's name and links).
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from bbmirror.engine.batches import merge
from bbmirror.engine.outcome import now
from bbmirror.engine.runner import Unit
from bbmirror.engine.streams import RowSet
from bbmirror.flavours.cloud import cadence
from bbmirror.flavours.cloud.rows_pipelines import pipeline_key
from bbmirror.http import BitbucketError
from bbmirror.store.db import SyncState

STREAM = "pipelines"
PAGELEN = 100
BATCH = 25
SLACK = 5  # pages beyond what `size` promised (runs started while reading)


def pipelines_due(engine: Any, unit: Unit) -> bool:
    """Condition: the repository is not remembered as never having run a pipeline, or it is
    time to ask again (``settings_every``, ``--full``, ``--reconcile``)."""
    state = engine.store.get_state(engine.source.name, unit.scope, STREAM)
    stamp = state.extra.get("absent_at") if state else None
    if not isinstance(stamp, str) or engine.options.full or engine.options.reconcile:
        return True
    try:
        age = datetime.fromisoformat(now()) - datetime.fromisoformat(stamp)
    except ValueError:
        return True
    return age >= timedelta(seconds=cadence.every(engine)) or age < timedelta(0)


def forget(engine: Any, ctx: dict) -> None:
    """A renamed repository: read the whole list and every completed run's steps again (their
    JSON holds its name and links), and ask again if it was remembered without pipelines."""
    state = engine.store.get_state(engine.source.name, ctx["repository_id"], STREAM)
    if state is None:
        return
    state.extra["whole"] = True
    state.extra.pop("absent_at", None)
    with engine.store.transaction():
        engine.store.put_state(state)


class PipelineWalker:
    """The two Pipelines hooks of Cloud's engine (mixed into ``CloudSync``)."""

    async def pipeline_list(self: Any, unit: Unit) -> list[dict] | None:
        """Step ``pipelines``: new runs and those not yet COMPLETED, newest first."""
        stream, ctx = self.streams[STREAM], unit.ctx
        state = self.store.get_state(self.source.name, unit.scope, STREAM) or SyncState(
            source=self.source.name, scope=unit.scope, stream=STREAM
        )
        whole = self.options.full or bool(state.extra.pop("whole", False))
        top = 0 if whole else int(state.extra.get("top", 0))
        unfinished = [] if whole else list(state.extra.get("open", []))
        floor = min([top, *(n - 1 for n in unfinished)])
        try:
            found, size = await _newest(self, stream.path.format(**ctx), floor)
        except BitbucketError as exc:
            if exc.status != 404:
                raise
            self.failure(stream, exc, ctx)  # ABSENT: noted in the log, nothing to mirror
            found, size = [], 0
        rows: RowSet = {}
        numbers: dict[str, int] = {}
        reread: list[int] = []
        for obj in found:
            converted = self.to_rows(stream, obj, ctx)
            number = obj.get("build_number") if isinstance(obj, dict) else None
            if converted is None:
                if isinstance(number, int):
                    reread.append(number)  # quarantined: asked again next run
                continue
            merge(rows, converted)
            numbers[converted["pipelines"][0]["id"]] = number
        runs = rows.get("pipelines", [])
        stored = self.store.current("pipelines", [r["id"] for r in runs], ("state",))
        due = [list(x) for x in state.extra.get("steps_due", [])]
        queued = {row_id for _, row_id in due}
        for run in runs:  # --full (or a rename) reads every run's steps again
            was = None if whole else stored.get(run["id"])
            if run["state"] == "COMPLETED" and was != ("COMPLETED",) and run["id"] not in queued:
                due.append([run["uuid"], run["id"]])
        state.extra["top"] = max([top, *(n for n in numbers.values() if isinstance(n, int))])
        state.extra["open"] = sorted(
            {n for r in runs if r["state"] != "COMPLETED" and (n := numbers[r["id"]])} | set(reread)
        )
        state.extra["steps_due"] = due
        if size == 0 and not state.extra["top"]:
            state.extra["absent_at"] = now()
        else:
            state.extra.pop("absent_at", None)
        with self.store.transaction():
            self.write(rows)
            self.store.put_state(state)
        self.progress(ctx.get("full_name", ""), STREAM, len(runs))
        return found

    async def pipeline_steps(self: Any, unit: Unit) -> None:
        """Step ``pipeline_steps``: the steps of runs queued COMPLETED, 25 runs a transaction."""
        stream, ctx = self.streams["pipeline_steps"], unit.ctx
        state = self.store.get_state(self.source.name, unit.scope, STREAM)
        due = list(state.extra.get("steps_due", [])) if state else []
        while due:
            batch, due = due[:BATCH], due[BATCH:]
            jobs = [
                self.guarded(stream.name, _steps(self, uuid, row_id, ctx), ctx)
                for uuid, row_id in batch
            ]
            results = await asyncio.gather(*jobs)
            with self.store.transaction():
                state = self.store.get_state(self.source.name, unit.scope, STREAM) or state
                done = set()
                for (uuid, row_id), result in zip(batch, results, strict=True):
                    if result is None:
                        continue  # failed or refused: stays queued for the next run
                    self.write(result)
                    keep = {r["id"] for r in result.get("pipeline_steps", ())}
                    gone = self.store.tombstone(
                        "pipeline_steps", {"pipeline_id": row_id}, keep, now()
                    )
                    self.summary.add({"pipeline_steps": gone})
                    done.add(uuid)
                left = [x for x in state.extra.get("steps_due", []) if x[0] not in done]
                state.extra["steps_due"] = left
                self.store.put_state(state)


async def _newest(engine: Any, path: str, floor: int) -> tuple[list[dict], int]:
    """Newest-first pages down to the first run at or below ``floor``; and the list's size."""
    found: list[dict] = []
    page, size, limit = 1, 0, 1
    while page <= limit:
        params = [("sort", "-created_on"), ("pagelen", str(PAGELEN)), ("page", str(page))]
        body = await engine.client.get(path, params)
        values = body.get("values") if isinstance(body, dict) else None
        values = values if isinstance(values, list) else []
        if page == 1:
            size = body.get("size") if isinstance(body.get("size"), int) else len(values)
            limit = math.ceil(size / PAGELEN) + SLACK
        below = False
        for obj in values:
            number = obj.get("build_number") if isinstance(obj, dict) else None
            if isinstance(number, int) and number <= floor:
                below = True
                continue
            found.append(obj)
        if below or not values or (page * PAGELEN >= size and not body.get("next")):
            break
        page += 1
    return found, size


async def _steps(engine: Any, uuid: str, row_id: str, ctx: dict) -> RowSet:
    """Every step of one run (they fit a page; more are paged by number)."""
    stream = engine.streams["pipeline_steps"]
    path = stream.path.format(**ctx, pipeline_uuid=quote(uuid, safe=""))
    step_ctx = {**ctx, "pipeline_id": row_id}
    rows: RowSet = {}
    page = 1
    while True:
        params = [("pagelen", str(PAGELEN)), ("page", str(page))]
        try:
            body = await engine.client.get(path, params)
        except BitbucketError as exc:
            if exc.status != 404:
                raise  # the guard records it; the run stays queued for the next sync
            reason = f"pipeline {row_id} answered 404 for its steps (deleted upstream?): dropped"
            engine.note(stream.name, reason, {"pipeline": row_id, "url": exc.url})
            return {}  # off the queue; what was mirrored of its steps gets deleted_at
        values = body.get("values") if isinstance(body, dict) else None
        values = values if isinstance(values, list) else []
        for obj in values:
            converted = engine.to_rows(stream, obj, step_ctx)
            if converted is not None:
                merge(rows, converted)
        size = body.get("size") if isinstance(body.get("size"), int) else 0
        if not values or page * PAGELEN >= size or page > 10:
            return rows
        page += 1


__all__ = ["PipelineWalker", "pipeline_key", "pipelines_due"]
