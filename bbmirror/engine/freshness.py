"""Build statuses that are not final yet, read again every run (issue 11).

Bitbucket has no feed of build statuses, and a new or changed status moves no ``updated_on``
(Cloud PRs) and no ref (Data Center tips). Re-reading every status every run would cost a
request per pull request (Cloud) or per tip (Data Center) per run, so a plain run re-reads only
the statuses still ``INPROGRESS`` (they are about to change) of open PR source commits (Cloud)
and of current tips (Data Center); ``--reconcile`` reads the rest (README "Limits").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bbmirror.engine.streams import Context
from bbmirror.store.db import Store

if TYPE_CHECKING:
    from bbmirror.engine.base import Engine

UNFINISHED = "INPROGRESS"


def open_prs_building(store: Store, repository_id: str) -> list[tuple[str, int]]:
    """(row id, number) of open PRs whose source commit has a status still in progress."""
    sql = """
        SELECT p.id, p.number FROM pullrequests p
        WHERE p.repository_id = :repo AND p.deleted_at IS NULL AND p.state = 'OPEN'
          AND p.source_commit IS NOT NULL AND p.number IS NOT NULL
          AND EXISTS (
            SELECT 1 FROM commit_statuses s
            WHERE s.repository_id = :repo AND s.deleted_at IS NULL AND s.state = :state
              AND s.commit_hash >= p.source_commit AND s.commit_hash < p.source_commit || 'g'
          )
        ORDER BY p.number"""
    rows = store.conn.execute(sql, {"repo": repository_id, "state": UNFINISHED})
    return [(row[0], row[1]) for row in rows]


def tips_building(store: Store, repository_id: str, tips: Iterable[str]) -> list[str]:
    """The given commits that have a status still in progress."""
    wanted = sorted(set(tips))
    if not wanted:
        return []
    marks = ", ".join("?" for _ in wanted)
    sql = (
        "SELECT DISTINCT commit_hash FROM commit_statuses WHERE repository_id = ?"
        f" AND deleted_at IS NULL AND state = ? AND commit_hash IN ({marks})"
    )
    rows = store.conn.execute(sql, [repository_id, UNFINISHED, *wanted])
    return sorted(row[0] for row in rows)


async def reread_building(engine: Engine, ctx: Context, repository_id: str) -> None:
    """Cloud: read again the statuses of open PRs whose source commit is still building."""
    stream = engine.streams["pr_statuses"]
    prs = open_prs_building(engine.store, repository_id)
    jobs = [
        engine.fetch_child(stream, {**ctx, "pullrequest_id": pid, "number": str(number)}, pid)
        for pid, number in prs
    ]
    results = await asyncio.gather(*jobs)
    with engine.store.transaction():
        for child in results:
            if child is not None:  # a failure is recorded by fetch_child; read again next run
                engine.write(child.rows)
