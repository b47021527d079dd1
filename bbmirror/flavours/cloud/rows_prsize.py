"""Cloud diffstat elements → ``pullrequest_files`` rows (bitbucket-cloud.md §3.14).

An element (seed 002, the geordi sample) is ``{"type": "diffstat", "status", "lines_added",
"lines_removed", "old": {"path", ...} | null, "new": {"path", ...} | null}``; ``old`` is null
for an added file, ``new`` for a removed one. A row is keyed by the PR and the file's path now
(the old path for a removed file), so a PR's next diffstat updates it in place.
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.rows import RowError, RowSet

STATUSES = ("added", "removed", "modified", "renamed")


def pr_file(
    obj: dict, *, source: str, repository_id: str, pullrequest_id: str, source_commit: str
) -> RowSet:
    """One changed file of a pull request, as of its ``source_commit``."""
    obj = shared.as_object(obj, "diffstat entry")
    new, old = shared.get(obj, "new", "path"), shared.get(obj, "old", "path")
    path = new or old
    if not isinstance(path, str) or not path:
        raise RowError("diffstat entry has neither 'new.path' nor 'old.path'")
    status = obj.get("status")
    rs: RowSet = {}
    row = {
        "id": f"{pullrequest_id}/file/{path}",
        "source": source,
        "pullrequest_id": pullrequest_id,
        "repository_id": repository_id,
        "source_commit": source_commit,
        "path": path,
        "old_path": old if isinstance(old, str) else None,
        "status": status.lower() if isinstance(status, str) else None,
        "lines_added": _count(obj.get("lines_added")),
        "lines_removed": _count(obj.get("lines_removed")),
        "json": shared.json(obj),
    }
    return shared.add(rs, "pullrequest_files", row)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
