"""Data Center pull request tasks: BLOCKER comments -> ``pullrequest_tasks`` rows.

Since 7.2 a task is a comment with ``severity`` ``BLOCKER`` (bitbucket-server.md §2.0, §2.8);
its ``state`` is ``OPEN`` or ``RESOLVED`` (``OPEN`` is stored as Cloud's ``UNRESOLVED``), and
a resolved one carries ``resolvedDate`` (epoch ms) and ``resolver`` (a user) on 8.x and 9.x
(seen on a live 9.4 server in a public note found with the search tool; the archive export
names them ``resolvedTimestamp``/``resolverId``). The PR activities every changed PR is read
for embed each thread's current state, so tasks cost no request of their own: the rows come
from the same objects as the ``comments`` rows (rows.py ``_thread``).
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.rows import RowSet, comment_key

STATES = {"OPEN": "UNRESOLVED"}  # RESOLVED stays; a draft (PENDING) task keeps its name


def blocker_task(
    rs: RowSet, obj: dict, comment: dict, resolver: str | None, resolved_on: str | None
) -> None:
    """Add the task row of a BLOCKER comment whose ``comments`` row is ``comment``."""
    cid = comment["comment_id"]
    state = obj.get("state")
    shared.add(
        rs,
        "pullrequest_tasks",
        {
            "id": f"{comment['pullrequest_id']}/task/{cid}",
            "source": comment["source"],
            "pullrequest_id": comment["pullrequest_id"],
            "repository_id": comment["repository_id"],
            "task_id": shared.integer(cid),
            "comment_id": comment_key(comment["source"], cid),
            "content": comment["body"],
            "state": STATES.get(state, state),
            "creator_id": comment["user_id"],
            "resolved_by_id": resolver if state == "RESOLVED" else None,
            "created_on": comment["created_on"],
            "updated_on": comment["updated_on"],
            "resolved_on": resolved_on if state == "RESOLVED" else None,
            "json": comment["json"],
        },
    )
