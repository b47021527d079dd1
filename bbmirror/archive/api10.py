"""Issues as the old 1.0 REST API returned them, read as export records."""

from __future__ import annotations


def from_api_10(raw: dict) -> dict:
    """An old 1.0 API issue (bitbucket-cloud.md §5.2, §5.4) in export-record terms."""
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    return {
        "id": raw.get("local_id"),
        "title": raw.get("title"),
        "content": raw.get("content"),
        "reporter": raw.get("reported_by"),
        "assignee": raw.get("responsible"),
        "status": raw.get("status"),
        "priority": raw.get("priority"),
        "kind": metadata.get("kind"),
        "component": metadata.get("component"),
        "milestone": metadata.get("milestone"),
        "version": metadata.get("version"),
        "created_on": raw.get("utc_created_on") or raw.get("created_on"),
        "updated_on": raw.get("utc_last_updated") or raw.get("created_on"),
    }
