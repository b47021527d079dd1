"""Branches and tags in one list: ``GET …/refs`` (reference bitbucket-cloud.md §3.18).

One paged list carries both kinds (``type`` "branch" or "tag"), so a repository's refs cost one
request instead of two when nothing changed. Each kind keeps its own table and tombstones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bbmirror.engine.base import merge
from bbmirror.engine.outcome import now
from bbmirror.engine.runner import note_refs_unread
from bbmirror.engine.streams import Context
from bbmirror.flavours.cloud import rows_git
from bbmirror.rows import RowSet

if TYPE_CHECKING:
    from bbmirror.engine.base import Engine

KINDS = (("branches", "branch"), ("tags", "tag"))


def ref(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A ref of the ``/refs`` list: a tag's rows when it says it is a tag, else a branch's."""
    if isinstance(obj, dict) and obj.get("type") == "tag":
        return rows_git.tag(obj, source=source, repository_id=repository_id)
    return rows_git.branch(obj, source=source, repository_id=repository_id)


def wanted(engine: Engine) -> bool:
    """Refs are read when branches, tags or commits (which start from them) are wanted."""
    return any(engine.wanted(name) for name in ("branches", "tags", "commits"))


async def read_refs(engine: Engine, ctx: Context, where: dict[str, str]) -> dict[str, str] | None:
    """Write branches and tags; ``{"branch:NAME": hash, "tag:NAME": hash}``, or None on failure.

    None when the list could not be read: commits and their garbage collection then wait for a
    run that sees every ref, or a missing branch would look like a deleted one.
    """
    if not wanted(engine):
        return {}
    found = await engine.guarded("branches", _read(engine, ctx, where), ctx)
    if found is None:
        note_refs_unread(engine, ctx, "refs")
    return found


async def _read(engine: Engine, ctx: Context, where: dict[str, str]) -> dict[str, str]:
    stream = engine.streams["branches"]
    rowset: RowSet = {}
    clean = True
    seen = 0
    async for obj in engine.objects_of(stream, stream.path.format(**ctx)):
        rows = engine.to_rows(stream, obj, ctx)
        if rows is None:
            clean = False
            continue
        seen += 1
        merge(rowset, rows)
    refs: dict[str, str] = {}
    for table, kind in KINDS:
        for row in rowset.get(table, ()):
            if row.get("target_hash"):
                refs[f"{kind}:{row['name']}"] = row["target_hash"]
    kept = [t for t, _ in KINDS if t not in getattr(engine, "skipped", ())]  # skipping.py
    rowset = {t: rows for t, rows in rowset.items() if t in kept or t not in dict(KINDS)}
    with engine.store.transaction():
        engine.write(rowset)
        for table in kept:  # a skipped kind is neither written nor tombstoned
            if clean and table not in engine.blind:  # quarantined or unseen ≠ deleted
                keep = {r["id"] for r in rowset.get(table, ())}
                gone = engine.store.tombstone(table, where, keep, now())
                engine.summary.add({table: gone})
    engine.progress(ctx.get("full_name", ""), "refs", seen)
    return refs
