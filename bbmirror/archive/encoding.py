"""How Bitbucket writes an export JSON (export-format.md §2, §4.4): shared by both writers."""

from __future__ import annotations

import json
from typing import Any

TOP_LEVEL_KEYS = (
    "milestones",
    "attachments",
    "versions",
    "comments",
    "meta",
    "components",
    "issues",
    "logs",
)  # the order of every real export (§2)
LOG_VALUE_LIMIT = 254  # log values are truncated to 254 characters (§4.4 rule 3)
DEFAULT_META = {  # what Bitbucket writes for a tracker left at its defaults (§4.6)
    "default_assignee": None,
    "default_component": None,
    "default_kind": "bug",
    "default_milestone": None,
    "default_version": None,
}
LOG_NAMES = {"state": "status", "assignee": "responsible", "assignee_account_id": "responsible"}


def log_name(field: str) -> str:
    """The ``field`` of a log for a 2.0 change item name (``responsible`` is the assignee)."""
    return LOG_NAMES.get(field, field)


def log_value(value: str | None) -> str:
    """A change value as a log writes it: ``""`` for none, cut at 254 (§4.4 rules 2-3)."""
    return (value or "")[:LOG_VALUE_LIMIT]


def dumps(document: dict[str, Any]) -> bytes:
    """Encode like Bitbucket: compact, raw UTF-8, ``/`` escaped as ``\\/`` (§2)."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.replace("/", "\\/").encode("utf-8")
