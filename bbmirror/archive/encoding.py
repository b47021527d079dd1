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


def dumps(document: dict[str, Any]) -> bytes:
    """Encode like Bitbucket: compact, raw UTF-8, ``/`` escaped as ``\\/`` (§2)."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.replace("/", "\\/").encode("utf-8")
