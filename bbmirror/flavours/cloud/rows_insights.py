"""Cloud code insights: a commit's reports and their annotations -> rows (shapes:
simulator/cloud/insights.py). Keys: ``{repository_id}/{hash}/report/{uuid}`` and
``{report id}/annotation/{uuid}`` (uuids are immutable; external ids are the poster's own)."""

from __future__ import annotations

import json

from bbmirror import rows as shared
from bbmirror.rows import RowSet, commit_key


def report_key(repository_id: str, commit_hash: str, uuid: str) -> str:
    return f"{commit_key(repository_id, commit_hash)}/report/{uuid}"


def report(obj: dict, *, source: str, repository_id: str, commit_hash: str) -> RowSet:
    """One code insights report on a commit."""
    obj = shared.as_object(obj, "code insights report")
    uuid = shared.need_uuid(obj, "code insights report")
    details = obj.get("details")
    rs: RowSet = {}
    shared.add(
        rs,
        "insight_reports",
        {
            "id": report_key(repository_id, commit_hash, uuid),
            "source": source,
            "commit_id": commit_key(repository_id, commit_hash),
            "repository_id": repository_id,
            "commit_hash": commit_hash,
            "uuid": uuid,
            "external_id": obj.get("external_id"),
            "title": obj.get("title"),
            "report_type": obj.get("report_type"),
            "reporter": obj.get("reporter"),
            "result": obj.get("result"),
            "link": obj.get("link"),
            "details": details if isinstance(details, str) else json.dumps(details),
            "created_on": shared.time(obj, "created_on", "code insights report"),
            "updated_on": shared.time(obj, "updated_on", "code insights report"),
            "json": shared.json(obj),
        },
    )
    return rs


def annotation(
    obj: dict, *, source: str, repository_id: str, commit_hash: str, report_id: str
) -> RowSet:
    """One annotation of a report (a finding on a path and line)."""
    obj = shared.as_object(obj, "code insights annotation")
    uuid = shared.need_uuid(obj, "code insights annotation")
    rs: RowSet = {}
    shared.add(
        rs,
        "insight_annotations",
        {
            "id": f"{report_id}/annotation/{uuid}",
            "source": source,
            "report_id": report_id,
            "repository_id": repository_id,
            "commit_hash": commit_hash,
            "uuid": uuid,
            "external_id": obj.get("external_id"),
            "annotation_type": obj.get("annotation_type"),
            "path": obj.get("path"),
            "line": shared.integer(obj.get("line"), "code insights annotation 'line'"),
            "summary": obj.get("summary"),
            "details": obj.get("details"),
            "severity": obj.get("severity"),
            "result": obj.get("result"),
            "created_on": shared.time(obj, "created_on", "code insights annotation"),
            "updated_on": shared.time(obj, "updated_on", "code insights annotation"),
            "json": shared.json(obj),
        },
    )
    return rs
