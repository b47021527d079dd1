"""Cloud pull request tasks (``/pullrequests/{id}/tasks``) -> ``pullrequest_tasks`` rows.

The shape is Bitbucket's current OpenAPI ``pullrequest_comment_task`` (see
simulator/cloud/tasks.py): ``state`` is ``RESOLVED`` or ``UNRESOLVED`` as stored; a task on
a comment points at it (``comment.id``), keyed like every comment (``{source}/comment/{id}``).
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.rows import RowSet, comment_key


def task_key(pullrequest_id: str, task_id: int) -> str:
    """A task's row id: its PR's row id and its immutable API id."""
    return f"{pullrequest_id}/task/{task_id}"


def pr_task(obj: dict, *, source: str, repository_id: str, pullrequest_id: str) -> RowSet:
    """One task, and a ``users`` row for its creator and resolver."""
    obj = shared.as_object(obj, "pull request task")
    task_id = shared.integer(shared.need(obj, "id", "pull request task"), "pull request task 'id'")
    assert task_id is not None
    comment = shared.integer(shared.get(obj, "comment", "id"), "pull request task 'comment.id'")
    rs: RowSet = {}
    shared.add(
        rs,
        "pullrequest_tasks",
        {
            "id": task_key(pullrequest_id, task_id),
            "source": source,
            "pullrequest_id": pullrequest_id,
            "repository_id": repository_id,
            "task_id": task_id,
            "comment_id": comment_key(source, comment) if comment is not None else None,
            "content": shared.text(obj.get("content")),
            "state": obj.get("state"),
            "creator_id": shared.ref_user(rs, obj.get("creator"), source),
            "resolved_by_id": shared.ref_user(rs, obj.get("resolved_by"), source),
            "created_on": shared.time(obj, "created_on", "pull request task"),
            "updated_on": shared.time(obj, "updated_on", "pull request task"),
            "resolved_on": shared.time(obj, "resolved_on", "pull request task"),
            "json": shared.json(obj),
        },
    )
    return rs
