"""Join a 2019+ zip's db-1.0.json and db-2.0.json to learn each account's username (§4.1, §5).

The two files hold the same records; only users differ (a username in 1.0, an object in 2.0).
Records are joined by ids, not positions, so that unsorted files still line up.
"""

from __future__ import annotations

from typing import Any


def username_slots(doc_10: dict[str, Any]) -> dict[tuple, str]:
    """Where each username sits in a 1.0 file, by record ids (kept small: no documents)."""
    return {slot: value for slot, value in _user_slots(doc_10) if isinstance(value, str)}


def username_map(names: dict[tuple, str], doc_20: dict[str, Any]) -> dict[str, str]:
    """Join a zip's 1.0 and 2.0 files record by record to learn each account's username."""
    found: dict[str, str] = {}
    for slot, value in _user_slots(doc_20):
        if isinstance(value, dict) and value.get("account_id") and slot in names:
            found.setdefault(value["account_id"], names[slot])
    return found


def prefer_10(doc_20: dict[str, Any], doc_10: dict[str, Any]) -> bool:
    """Whether the 1.0 file of a zip says more than its 2.0 file, or the same.

    More: the 2.0 file names a user without an account_id (``export-issues`` writes users that
    came from a 1.0 archive so). The same: no account_id at all, and the same attachment paths.
    """
    values = [v for _, v in _user_slots(doc_20) if isinstance(v, dict)]
    if any(not v.get("account_id") for v in values):
        return True
    paths = [[a.get("path") for a in _records(d, "attachments")] for d in (doc_20, doc_10)]
    return not values and paths[0] == paths[1]


def _user_slots(document: dict[str, Any]) -> Any:
    """(where, user value) for every user value in a document, keyed by ids, not positions."""
    for issue in _records(document, "issues"):
        for key in ("reporter", "assignee"):
            yield ("issue", issue.get("id"), key), issue.get(key)
        for key in ("watchers", "voters"):
            for n, value in enumerate(issue.get(key) or []):
                yield ("issue", issue.get("id"), key, n), value
    for comment in _records(document, "comments"):
        yield ("comment", comment.get("id")), comment.get("user")
    seen: dict[tuple, int] = {}
    for log in _records(document, "logs"):
        key = (log.get("issue"), log.get("comment"), log.get("field"))
        seen[key] = seen.get(key, -1) + 1
        yield ("log", *key, seen[key]), log.get("user")
    for attachment in _records(document, "attachments"):  # paths differ between the files
        key = ("attachment", attachment.get("issue"), attachment.get("filename"))
        seen[key] = seen.get(key, -1) + 1
        yield (*key, seen[key]), attachment.get("user")
    meta = document.get("meta")
    if isinstance(meta, dict):
        yield ("meta",), meta.get("default_assignee")


def _records(document: dict[str, Any], key: str) -> list[dict]:
    values = document.get(key)
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
