"""A repository's first tracker sync through the issue export job (reference §6.4, issue 14).

Per-issue child lists cost three requests per issue, most of them empty. The export job gives a
whole tracker (issues, comments, change log, attachment records) in a handful: ``POST
…/issues/export`` (202 and a ``Location``), polls of that location (202 while running), then the
zip, which ``bbmirror import-issues``'s importer (bbmirror/archive/) writes into the same rows.

What an export cannot say, the API is asked for. Exports drop deleted comments and replies'
parents, cut change values at 254 characters, name assignees by username only, carry no
rendered html, give each log its own time and no attachment links (export-format.md §4). So the
zip is imported first (the tracker is browsable at once), then each issue's comment, change and
attachment lists are read for the issues whose export has any (checkpointed in
``extra["export_children"]``), which leaves the rows equal to a per-issue read: only the lists
that would come back empty, most of them, are saved. The issue rows come from the issue list
that follows, as on every run; the imported rows carry the same ``updated_on``, so that list
fetches no children for them.

The job needs the ``issue`` and ``repository:admin`` scopes and admin rights. A 403, a failed
or unfinished job, or a zip that does not read falls back to the per-issue lists, which lose
nothing, so it is logged, not recorded as an error. Later runs read the issue list since the
watermark and the children of issues whose ``updated_on`` moved, as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bbmirror.archive.importer import import_opened
from bbmirror.archive.model import ArchiveError
from bbmirror.archive.read import read_archive
from bbmirror.engine.outcome import now
from bbmirror.engine.streams import Context
from bbmirror.http import BitbucketError
from bbmirror.http.raw import Raw
from bbmirror.rows import issue_key
from bbmirror.store.db import SyncState

if TYPE_CHECKING:
    from bbmirror.engine.base import Engine

log = logging.getLogger(__name__)

CHILDREN = ("issue_comments", "issue_changes", "issue_attachments")
SEEDED = "export_tried"  # when this repository's export job was tried (once: a first sync)
PENDING = "export_children"  # child stream -> issue numbers whose lists are still to read
MAX_POLLS = 30  # with backoff doubling to the client's ceiling: about half an hour
BATCH = 100  # comment lists per checkpoint
OPTIONS = {"type": "export", "send_email": False, "include_attachments": False}


def wanted(engine: Engine, ctx: Context) -> bool:
    """Whether this run may seed the tracker from an export: a first sync of every part."""
    if engine.options.full or engine.options.reconcile:
        return False
    if not all(engine.wanted(name) for name in ("issues", *CHILDREN)):
        return False
    if engine.is_denied(engine.streams["issues"], ctx) or getattr(engine, "no_export", False):
        return False
    state = engine.store.get_state(engine.source.name, ctx["repository_id"], "issues")
    return state is None or not (state.watermark or state.resume or state.extra.get(SEEDED))


async def seed(engine: Engine, ctx: Context) -> None:
    """Seed a never-read tracker from the export job; the child lists it still needs are read
    later, with every repository's other children (``read_pending``)."""
    if wanted(engine, ctx):
        data = await run_job(engine, ctx)
        having = _import(engine, ctx, data) if data is not None else None
        _save_pending(engine, ctx, having or {})


async def run_job(engine: Engine, ctx: Context) -> bytes | None:
    """Start the job, poll it with backoff, return the zip; None when it cannot be had."""
    client, where = engine.client, ctx["full_name"]
    path = f"repositories/{ctx['workspace']}/{ctx['slug']}/issues/export"
    try:
        started = await client.request(
            "POST", path, form=json.dumps(OPTIONS), shape=Raw, content_type="application/json"
        )
        location = started.headers.get("location")
        if not location:
            log.info("%s: the export job gave no Location; reading issues one by one", where)
            return None
        for attempt in range(MAX_POLLS):
            await asyncio.sleep(min(client.max_backoff, client.backoff * 2**attempt))
            answer = await client.request("GET", location, shape=Raw)
            if answer.status == 202:
                continue  # ACCEPTED or STARTED: still running
            if "zip" in answer.headers.get("content-type", ""):
                return answer.content
            log.info("%s: the export job ended without a zip (%s)", where, _status(answer))
            return None
    except BitbucketError as exc:
        if exc.status == 403 and "privilege scopes" in str(exc):
            engine.no_export = True  # type: ignore[attr-defined]  # a scope: so for every repo
        log.info("%s: no issue export (%s); reading issues one by one", where, exc.status)
        return None
    log.info("%s: the export job did not finish in %d polls", where, MAX_POLLS)
    return None


def _status(answer: Raw) -> str:
    try:
        return str(json.loads(answer.content).get("status"))
    except (ValueError, AttributeError):
        return f"{answer.status}, {answer.headers.get('content-type')}"


def _import(engine: Engine, ctx: Context, data: bytes) -> dict[str, list[int]] | None:
    """Write the zip's tracker into the mirror; per child stream, the issues that have some."""
    with tempfile.TemporaryDirectory(prefix="bbmirror-export-") as tmp:
        path = Path(tmp) / "export.zip"
        path.write_bytes(data)
        try:
            with read_archive(path) as opened:
                with engine.store.transaction():
                    summary = import_opened(
                        engine.store, opened, ctx["full_name"], engine.source.name
                    )
                archive = opened.archive
                having = {
                    "issue_comments": sorted({c.issue for c in archive.comments}),
                    "issue_changes": sorted({c.issue for c in archive.changes}),
                    "issue_attachments": sorted({a.issue for a in archive.attachments}),
                }
        except ArchiveError as exc:
            log.info("%s: the export did not read (%s)", ctx["full_name"], exc)
            return None
    engine.summary.add(summary.rows)
    engine.progress(ctx["full_name"], "issues (export)", summary.issues)
    return having


def _save_pending(engine: Engine, ctx: Context, numbers: dict[str, list[int]]) -> None:
    store, source = engine.store, engine.source.name
    state = store.get_state(source, ctx["repository_id"], "issues") or SyncState(
        source=source, scope=ctx["repository_id"], stream="issues"
    )
    state.extra[PENDING] = numbers
    state.extra[SEEDED] = now()
    with store.transaction():
        store.put_state(state)


async def read_pending(engine: Engine, ctx: Context) -> None:
    """The child lists of exported issues that have children, a batch per checkpoint.

    A list that could not be read puts its issue on the issue stream's redo list, which reads
    it again, children and all (engine/policy.py).
    """
    store, source, repo_id = engine.store, engine.source.name, ctx["repository_id"]
    while True:
        state = store.get_state(source, repo_id, "issues")
        pending: dict[str, list[int]] = dict(state.extra.get(PENDING) or {}) if state else {}
        work = [(name, n) for name in CHILDREN for n in pending.get(name, ())][:BATCH]
        if state is None or not work:
            if state is not None and PENDING in state.extra:
                state.extra.pop(PENDING)
                with store.transaction():
                    store.put_state(state)
            return
        jobs = []
        for name, number in work:
            key = issue_key(repo_id, number)
            child_ctx = {**ctx, "issue_id": key, "number": str(number)}
            jobs.append(engine.fetch_child(engine.streams[name], child_ctx, key))
        results = await asyncio.gather(*jobs)
        failed = {n for (_, n), r in zip(work, results, strict=True) if r is None}
        with store.transaction():
            for child in results:
                if child is None:
                    continue
                engine.write(child.rows)
                for table, where, keep in child.tombstones:
                    engine.summary.add({table: store.tombstone(table, where, keep, now())})
            for name, number in work:
                pending[name] = [n for n in pending[name] if n != number]
            state.extra[PENDING] = pending
            if failed:
                state.extra["redo"] = sorted(set(state.extra.get("redo", [])) | failed)
            store.put_state(state)
