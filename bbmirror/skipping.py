"""Leaving costly streams out (``--skip``, a source's ``skip``), checked against the plan.

A skipped stream is not read and nothing is tombstoned from its absence; its dependents go
with it (``Plan.skipped``: a parent's children, Cloud's feed with pull request comments or
activity). The run says so: "skipped by configuration: pr_diffstat" in its summary line, its
``sync_runs`` options and ``bbmirror status``. Not an error: the outcome stays ok.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

SKIPPED = "skipped by configuration"


def plan_of(kind: str) -> Any:
    """The plan a source of this kind runs."""
    if kind == "server":
        from bbmirror.flavours.server.plan import SERVER_PLAN

        return SERVER_PLAN
    from bbmirror.flavours.cloud.plan import CLOUD_PLAN

    return CLOUD_PLAN


def check(kind: str, names: Iterable[str], what: str = "--skip") -> frozenset[str]:
    """What skipping ``names`` leaves out of a ``kind`` source, or one ConfigError line."""
    from bbmirror.config import ConfigError
    from bbmirror.engine.plan import PlanError

    try:
        return plan_of(kind).check_skip(names, what)
    except PlanError as exc:
        raise ConfigError(str(exc)) from None


def parse(text: str | None) -> frozenset[str]:
    """The comma-separated ``--skip`` names."""
    return frozenset(s.strip() for s in (text or "").split(",") if s.strip())


def note(skipped: Iterable[str]) -> str | None:
    """The run's words for what it left out, or None."""
    names = sorted(skipped)
    return f"{SKIPPED}: {', '.join(names)}" if names else None


def configured(conn: Any, run_id: int | None) -> list[str]:
    """What the run left out by ``--skip`` or config ``skip`` (skipping.py): said, not an error."""
    row = conn.execute("SELECT options FROM sync_runs WHERE id = ?", (run_id,)).fetchone()
    try:
        names = json.loads(row[0] or "{}").get("skip") if row else None
    except (ValueError, AttributeError):
        names = None
    said = note(names) if isinstance(names, list) else None
    return [said] if said else []
