"""What ``bbmirror status`` says about webhooks: the last delivery per source, and how fresh
each repository is (its newest checkpoint, a webhook refresh's included)."""

from __future__ import annotations

import json
from typing import Any

from bbmirror.webhooks.log import SCOPE, STREAM


def deliveries(conn: Any, source: str) -> dict[str, Any] | None:
    """The source's delivery log as the webhook worker last saved it, or None."""
    row = conn.execute(
        "SELECT extra FROM sync_state WHERE source = ? AND scope = ? AND stream = ?",
        (source, SCOPE, STREAM),
    ).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def describe(log: dict[str, Any] | None) -> str | None:
    """One line: the last delivery and the counts by outcome."""
    if not log or not log.get("last"):
        return None
    last = log["last"]
    counts = ", ".join(f"{n} {k}" for k, n in sorted(log.get("counts", {}).items()))
    when = last["at"][:19].replace("T", " ")
    spent = f"; {log['requests']} requests" if log.get("requests") else ""
    return f"last {last['event'] or '(no event key)'} {when}: {last['outcome']} ({counts}){spent}"


def fresh_as_of(streams: list[dict[str, Any]]) -> str | None:
    """A repository is as fresh as its newest completed checkpoint (run or webhook)."""
    return max((s["synced_at"] for s in streams if s.get("synced_at")), default=None)
