"""Cloud pull request tasks (``/pullrequests/{id}/tasks``) -> ``pullrequest_tasks`` rows.

The shape is Bitbucket's current OpenAPI ``pullrequest_comment_task`` (see
simulator/cloud/tasks.py): ``state`` is ``RESOLVED`` or ``UNRESOLVED`` as stored; a task on
a comment points at it (``comment.id``), keyed like every comment (``{source}/comment/{id}``).

When a PR's tasks are read (issue 15; the reference has no tasks endpoint, §3.14):

* Nothing cheaper reveals them. ``task_count`` counts open tasks only, so a PR whose tasks
  are all resolved shows 0 (common in the field); the 2.0 activity omits tasks (only the
  internal endpoint has them, §3.13) and a comment does not say it carries one (its 2.0 shape
  has no task field). The count has even been 0 with open tasks in the field (Atlassian's
  own landkid, atlassian-archive/landkid PR #136, 2021: "bitbucket returns a task_count of 0
  … call the /tasks endpoint"), so nothing here trusts it.
* So every PR's list is read once, on the first sync (queued with its other children: a
  request per PR), and afterwards for every PR whose ``updated_on`` moved (one request each,
  also when it shows no task: a task created and resolved between two runs leaves
  ``task_count`` at 0). Whether a task change moves ``updated_on`` upstream is
  undocumented (the simulator's ``task_bumps_pr`` says it does); one that does not is read
  by ``--reconcile`` (the stream's ``refresh``: every PR's list again), and ``status`` says so
  (``RECONCILE_ONLY``).

Cost, Cloud ``medium`` seed 1 (``scripts/bench-economy``), before (lists only where
``task_count`` > 0) → now: first sync 16,057 → 19,412 (+3,355: 5,000 lists, not 1,645; the
first useful mirror stays at request 771), incremental after 500 mutations 865 → 1,034, no-op
95 → 95, ``--reconcile`` 6,076 → 11,099 (every PR's list again).
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.rows import RowSet, comment_key

# What `status` lists for a Cloud source (a gap only --reconcile closes; see the docstring).
RECONCILE_ONLY = "pull request tasks: a change that moves no PR updated_on waits for --reconcile"


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
