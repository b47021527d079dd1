"""Archive records -> 2.0-API-shaped objects, so the Cloud transforms key them as live sync does.

What an export record holds beyond the 2.0 API shape (a log's own time, a carrier comment's
``updated_on``, ``"None"`` log values, an attachment's zip path) rides along in the objects'
JSON under ``"archive"`` / ``"path"``, so ``export-issues`` can write the record back as it came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bbmirror.archive.model import (
    ArchiveAttachment,
    ArchiveChange,
    ArchiveComment,
    ArchiveIssue,
    ChangeItem,
    UserRef,
)

ARCHIVE = "archive"  # the key holding what an export record has and the 2.0 API shape lacks
UserDoc = Callable[[UserRef | None], dict[str, Any] | None]


def user(ref: UserRef | None) -> dict[str, Any] | None:
    """The user as the archive knew them (the importer passes the mirrored user instead)."""
    if ref is None:
        return None
    found = {
        "display_name": ref.display_name,
        "account_id": ref.account_id,
        "username": ref.username,
        "uuid": ref.uuid,
    }
    return {k: v for k, v in found.items() if v is not None}


def _named(name: str | None) -> dict[str, str] | None:
    return {"name": name} if name is not None else None


def issue(record: ArchiveIssue, user: UserDoc = user) -> dict[str, Any]:
    return {
        "type": "issue",
        "id": record.id,
        "title": record.title,
        "content": {"raw": record.content} if record.content is not None else None,
        "reporter": user(record.reporter),
        "assignee": user(record.assignee),
        "state": record.state,
        "kind": record.kind,
        "priority": record.priority,
        "milestone": _named(record.milestone),
        "version": _named(record.version),
        "component": _named(record.component),
        "votes": len(record.voters),
        "voters": [u for u in map(user, record.voters) if u],
        "watchers": [u for u in map(user, record.watchers) if u],
        "created_on": record.created_on,
        "updated_on": record.updated_on,
        "edited_on": record.edited_on,
        "content_updated_on": record.content_updated_on,
    }


def comment(record: ArchiveComment, user: UserDoc = user) -> dict[str, Any]:
    return {
        "type": "issue_comment",
        "id": record.id,
        "content": {"raw": record.content},
        "user": user(record.user),
        "created_on": record.created_on,
        "updated_on": record.updated_on or record.created_on,  # the API always sets it
        "deleted": False,
        "issue": {"type": "issue", "id": record.issue},
        ARCHIVE: {"updated_on": record.updated_on},  # null when never edited (§4.3)
    }


def change(record: ArchiveChange, user: UserDoc = user) -> dict[str, Any]:
    """An ``issue_change``; a repeated field (several attachments) keeps its first value here."""
    changes: dict[str, dict[str, str]] = {}
    for item in record.items:
        changes.setdefault(item.field, {"old": item.old or "", "new": item.new or ""})
    return {
        "type": "issue_change",
        "id": record.id,
        "changes": changes,
        "user": user(record.user),
        "created_on": record.created_on,
        "message": {"raw": record.message} if record.message is not None else None,
        "issue": {"type": "issue", "id": record.issue},
        ARCHIVE: {"updated_on": record.updated_on, "carrier": record.carrier},
    }


def item(record: ChangeItem) -> dict[str, Any]:
    """One change item's JSON: the 2.0 ``{old, new}`` plus the log's own time and raw values."""
    return {
        "old": record.old or "",
        "new": record.new or "",
        ARCHIVE: {"created_on": record.created_on, **record.raw},
    }


def attachment(record: ArchiveAttachment, user: UserDoc = user) -> dict[str, Any]:
    found = {
        "type": "issue_attachment",
        "name": record.filename,
        "path": record.path,
        "url": record.url,
        "user": user(record.user),
        "created_on": record.uploaded_on,
    }
    return {k: v for k, v in found.items() if v is not None}
