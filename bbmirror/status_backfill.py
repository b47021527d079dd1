"""What a first sync still has to read, and when it will be done at the source's budget.

A first sync reads every repository's lists first and queues the per-parent reads that follow
(engine/deferred.py: ``extra["due"]``), the child lists an export left to read
(flavours/cloud/export_job.py), the Data Center tips whose build statuses and the pull requests
whose Jira issues are still unread. All of that is ``sync_state``, so ``status`` can count it
without a request: about one request per queued list. The estimate divides what is queued by
the hourly budget; it grows while lists are still being read (more gets queued).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bbmirror.engine.deferred import DUE
from bbmirror.engine.ranges import STATUS_TODO
from bbmirror.flavours.cloud.export_job import PENDING
from bbmirror.flavours.cloud.rows_tasks import RECONCILE_ONLY
from bbmirror.flavours.server.jira import JIRA_TODO


def queued(conn: Any, source: str) -> dict[str, Any]:
    """Parents waiting for children and the lists still queued, per child stream."""
    lists: Counter[str] = Counter()
    parents = 0
    rows = conn.execute("SELECT stream, extra FROM sync_state WHERE source = ?", (source,))
    for stream, text in rows:
        try:
            extra = json.loads(text or "{}")
        except ValueError:
            continue
        if not isinstance(extra, dict):
            continue
        due = extra.get(DUE) or {}
        parents += len(due)
        for entry in due.values():
            lists.update(entry[1] if isinstance(entry, list) and len(entry) == 2 else ())
        for name, numbers in (extra.get(PENDING) or {}).items():
            lists[name] += len(numbers or ())
        if stream == "commits":
            lists["statuses"] += len(extra.get(STATUS_TODO) or ())
        if stream == "pullrequests":
            lists["pr_jira"] += len(extra.get(JIRA_TODO) or ())
    return {"parents": parents, "lists": dict(sorted((k, v) for k, v in lists.items() if v))}


def estimate(backlog: dict[str, Any], budget: int, now: datetime | None = None) -> dict[str, Any]:
    """Requests left (about one per list) and when they are done at ``budget`` per hour."""
    requests = sum(backlog["lists"].values())
    hours = requests / budget if budget > 0 else None
    moment = now or datetime.now(UTC)
    done = (moment + timedelta(hours=hours)).isoformat(timespec="minutes") if hours else None
    return {**backlog, "requests": requests, "hours": hours, "done_by": done}


def describe(backfill: dict[str, Any] | None, budget: int) -> str | None:
    """One line for ``status``: nothing when nothing is queued."""
    if not backfill or not backfill["requests"]:
        return None
    parts = ", ".join(f"{n:,} {name}" for name, n in backfill["lists"].items())
    hours = backfill["hours"]
    when = f"about {hours:.1f} h at {budget}/hour" if hours is not None else "no budget set"
    return (
        f"{backfill['requests']:,} lists still to read ({parts}) for "
        f"{backfill['parents']:,} parents: {when}"
        + (f", done about {backfill['done_by'][:16].replace('T', ' ')} UTC" if hours else "")
    )


def reconcile_only(conn: Any, name: str, kind: str | None) -> list[str]:
    """What a plain run may miss, with the last run that read it (--reconcile or --full)."""
    cloud_tasks = conn.execute(  # Cloud's PR walk covers the pr_tasks child stream
        "SELECT 1 FROM sync_state WHERE source = ? AND stream = 'pullrequests'"
        " AND extra LIKE '%\"pr_tasks\"%' LIMIT 1",
        (name,),
    ).fetchone()
    if kind == "server" or not cloud_tasks:
        return []
    last = conn.execute(
        "SELECT max(finished_at) FROM sync_runs WHERE source = ? AND outcome = 'ok' AND"
        " CASE WHEN json_valid(options) THEN json_extract(options, '$.reconcile')"
        " OR json_extract(options, '$.full') END",
        (name,),
    ).fetchone()[0]
    when = last[:19].replace("T", " ") if last else "never"
    return [f"{RECONCILE_ONLY} (last --reconcile or --full: {when})"]
