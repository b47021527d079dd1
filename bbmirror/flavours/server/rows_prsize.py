"""Data Center pull-request files → ``pullrequest_files`` rows (bitbucket-server.md §2.10, §2.13).

One ``GET …/pull-requests/{id}/diff?contextLines=0&withComments=false`` gives every file and
its lines: a diff's ``source`` is null for an added file, ``destination`` for a deleted one;
lines are counted from its ``ADDED`` and ``REMOVED`` segments. Truncation is flagged at
segment, hunk, diff and top level: a truncated file's lines are unknown (NULL), and files the
diff left out come from ``…/changes`` (paths and change type, no lines). Change types map onto
Cloud's statuses: ADD added, DELETE removed, MODIFY modified, MOVE renamed, COPY copied.
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.rows import RowError, RowSet

STATUS = {"ADD": "added", "DELETE": "removed", "MODIFY": "modified", "MOVE": "renamed"}
STATUS |= {"COPY": "copied"}


def _text(path: object) -> str | None:
    """A Path object's ``toString`` (or its components joined)."""
    if not isinstance(path, dict):
        return None
    text = path.get("toString")
    if isinstance(text, str) and text:
        return text
    parts = path.get("components")
    return "/".join(parts) if isinstance(parts, list) and parts else None


def _row(pullrequest_id: str, repository_id: str, source: str, source_commit: str) -> dict:
    return {
        "source": source,
        "pullrequest_id": pullrequest_id,
        "repository_id": repository_id,
        "source_commit": source_commit,
    }


def diff_file(
    obj: dict, *, source: str, repository_id: str, pullrequest_id: str, source_commit: str
) -> RowSet:
    """One file of a PR's JSON diff; its lines are NULL when the diff of it was truncated."""
    obj = shared.as_object(obj, "diff")
    new, old = _text(obj.get("destination")), _text(obj.get("source"))
    path = new or old
    if path is None:
        raise RowError("diff has neither 'destination' nor 'source' path")
    status = "added" if old is None else "removed" if new is None else "modified"
    if old is not None and new is not None and old != new:
        status = "renamed"
    added = removed = 0
    for hunk in obj.get("hunks") or ():
        for segment in (hunk or {}).get("segments") or ():
            count = len(segment.get("lines") or ())
            if segment.get("type") == "ADDED":
                added += count
            elif segment.get("type") == "REMOVED":
                removed += count
    cut = truncated(obj)
    row = _row(pullrequest_id, repository_id, source, source_commit)
    row |= {
        "id": f"{pullrequest_id}/file/{path}",
        "path": path,
        "old_path": old,
        "status": status,
        "lines_added": None if cut else added,
        "lines_removed": None if cut else removed,
        "json": shared.json({k: v for k, v in obj.items() if k != "hunks"}),  # not the lines' text
    }
    return {"pullrequest_files": [row]}


def truncated(obj: dict) -> bool:
    """Whether a diff (or any of its hunks or segments) says it was cut."""
    if obj.get("truncated") is True:
        return True
    for hunk in obj.get("hunks") or ():
        if (hunk or {}).get("truncated") is True:
            return True
        if any((s or {}).get("truncated") is True for s in hunk.get("segments") or ()):
            return True
    return False


def change_file(
    obj: dict, *, source: str, repository_id: str, pullrequest_id: str, source_commit: str
) -> RowSet:
    """One entry of ``…/changes``: a file the diff did not hold whole; lines unknown."""
    obj = shared.as_object(obj, "change")
    path = _text(obj.get("path"))
    if path is None:
        raise RowError("change has no 'path'")
    kind = str(obj.get("type") or "").upper()
    src = _text(obj.get("srcPath"))
    row = _row(pullrequest_id, repository_id, source, source_commit)
    row |= {
        "id": f"{pullrequest_id}/file/{path}",
        "path": path,
        "old_path": None if kind == "ADD" else (src or path),
        "status": STATUS.get(kind, kind.lower() or None),
        "lines_added": None,
        "lines_removed": None,
        "json": shared.json(obj),
    }
    return {"pullrequest_files": [row]}
