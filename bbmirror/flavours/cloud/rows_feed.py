"""Entries of the repository-wide PR activity feed (reference §3.13) as rows.

``GET repositories/{w}/{r}/pullrequests/activity`` holds every PR's activity entries, and a
``comment`` entry carries the whole ``pullrequest_comment``: one entry gives the same
``pullrequest_activity`` row as the PR's own activity list, and a comment entry also the same
``comments`` row as the PR's comments list.
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.flavours.cloud.rows import pr_activity, pr_comment
from bbmirror.rows import RowSet


def feed_entry(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """One feed entry: its activity row, and for a comment entry the comment's rows."""
    obj = shared.as_object(obj, "pull request activity")
    rs = pr_activity(obj, source=source, repository_id=repository_id)
    comment = obj.get("comment")
    if isinstance(comment, dict):
        pullrequest_id = rs["pullrequest_activity"][0]["pullrequest_id"]
        for table, rows in pr_comment(
            comment, source=source, repository_id=repository_id, pullrequest_id=pullrequest_id
        ).items():
            rs.setdefault(table, []).extend(rows)
    return rs
