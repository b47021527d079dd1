"""Bitbucket Cloud Pipelines runs and steps → rows (reference bitbucket-cloud.md §3.20).

Shapes: the 2.0 spec's ``pipeline`` / ``pipeline_step`` schemas; ``state.name`` is PENDING,
IN_PROGRESS or COMPLETED, ``state.result.name`` the result once COMPLETED. Keys:
``{repository_id}/pipeline/{uuid}`` and ``{repository_id}/pipeline-step/{uuid}`` (uuids are
immutable; build numbers are per repository). ``target_type``: ``ref`` (a branch, tag or
bookmark, with ``ref_type``), ``commit`` or ``pullrequest`` (its ``ref_name`` is the source
branch). ``duration_seconds``: the API's ``duration_in_seconds``, else completion minus start.
"""

from __future__ import annotations

from datetime import datetime

from bbmirror import rows as shared
from bbmirror.rows import RowSet, commit_key, pullrequest_key

TARGETS = {
    "pipeline_ref_target": "ref",
    "pipeline_commit_target": "commit",
    "pipeline_pullrequest_target": "pullrequest",
}


def pipeline_key(repository_id: str, uuid: str) -> str:
    return f"{repository_id}/pipeline/{uuid}"


def _timing(obj: dict, start_key: str, what: str) -> dict:
    """A run's or a step's start, completion and duration columns (module docstring)."""
    start = shared.time(obj, start_key, what)
    end = shared.time(obj, "completed_on", what)
    seconds = obj.get("duration_in_seconds")
    if seconds is not None:
        seconds = shared.integer(seconds, "duration_in_seconds")
    elif start and end:
        elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(start)
        seconds = max(0, int(elapsed.total_seconds()))
    return {start_key: start, "completed_on": end, "duration_seconds": seconds}


def _trigger(obj: dict) -> str | None:
    trigger = obj.get("trigger")
    name = shared.get(trigger, "name")
    if isinstance(name, str) and name:
        return name.upper()
    kind = shared.get(trigger, "type")
    return kind.removeprefix("pipeline_trigger_").upper() if isinstance(kind, str) else None


def pipeline(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """One run; its creator becomes a ``users`` row."""
    obj = shared.as_object(obj, "pipeline")
    uuid = shared.need_uuid(obj, "pipeline")
    rs: RowSet = {}
    target = obj.get("target") if isinstance(obj.get("target"), dict) else {}
    sha = shared.get(target, "commit", "hash")
    number = shared.get(target, "pullrequest", "id")
    kind = TARGETS.get(str(target.get("type")), target.get("type"))
    row = {
        "id": pipeline_key(repository_id, uuid),
        "source": source,
        "repository_id": repository_id,
        "uuid": uuid,
        "build_number": shared.integer(obj.get("build_number"), "build_number"),
        "state": shared.get(obj, "state", "name"),
        "result": shared.get(obj, "state", "result", "name"),
        "target_type": kind,
        "ref_type": target.get("ref_type"),
        "ref_name": target.get("ref_name") or target.get("source"),
        "commit_hash": sha,
        "commit_id": commit_key(repository_id, sha) if sha else None,
        "pullrequest_id": pullrequest_key(repository_id, number) if number is not None else None,
        "trigger": _trigger(obj),
        "creator_id": shared.ref_user(rs, obj.get("creator"), source),
        "build_seconds_used": shared.integer(obj.get("build_seconds_used"), "build_seconds_used"),
        **_timing(obj, "created_on", "pipeline"),
        "json": shared.json(obj),
    }
    return shared.add(rs, "pipelines", row)


def pipeline_step(obj: dict, *, source: str, repository_id: str, pipeline_id: str) -> RowSet:
    """One step of a run (not its log)."""
    obj = shared.as_object(obj, "pipeline step")
    uuid = shared.need_uuid(obj, "pipeline step")
    row = {
        "id": f"{repository_id}/pipeline-step/{uuid}",
        "source": source,
        "pipeline_id": pipeline_id,
        "repository_id": repository_id,
        "uuid": uuid,
        "name": obj.get("name"),
        "state": shared.get(obj, "state", "name"),
        "result": shared.get(obj, "state", "result", "name"),
        **_timing(obj, "started_on", "pipeline step"),
        "json": shared.json(obj),
    }
    return {"pipeline_steps": [row]}
