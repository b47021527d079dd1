"""The SQL sqlite-utils has no equivalent for: triggers that derive values, view bodies, data fixes.

Each constant is run by one migration in ``bbmirror.store.schema``; never edit an applied one.
"""

from __future__ import annotations

from bbmirror.store.tables import CLOSED

CLOSED_ON_TRIGGERS: tuple[str, ...] = (
    f"""CREATE TRIGGER [pullrequest_activity_closed_on] AFTER INSERT ON [pullrequest_activity]
    WHEN NEW.[kind] = 'update' AND NEW.[state] IN {CLOSED} AND NEW.[date] IS NOT NULL
    BEGIN
      UPDATE [pullrequests] SET [closed_on] = NEW.[date]
      WHERE [id] = NEW.[pullrequest_id] AND [state] = NEW.[state]
        AND ([closed_on] IS NULL OR [closed_on] > NEW.[date]);
    END""",
)

# Views (and an index) the Datasette reports and dashboards build on (datasette-metadata.json):
# one row per alive PR or issue, names resolved, durations computed. Choices where the brief is
# silent:
# - a PR's first review is the earliest approval, change request or comment by anyone but its
#   author (from pullrequest_activity); review_hours and cycle_hours (opened -> merged) are hours
#   from created_on, rounded to 0.01; approvals count current approvers other than the author;
# - an issue is resolved when its state is resolved, invalid, duplicate, wontfix or closed, and
#   resolved_on is the latest change-log entry that moved it from another state into one of
#   those (so a reopened-then-closed issue counts from its creation to its final resolution);
#   resolve_days is in days, rounded to 0.01. Open issues are new, open, on hold or submitted.
# The index covers the first-review lookup (a third faster on a medium mirror); migration 2 names
# it rather than TABLES so that no existing table declaration changes.
REVIEWS_INDEX = ("pullrequest_id", "kind", "date", "user_id", "deleted_at")
REPORT_VIEWS: tuple[tuple[str, str], ...] = (
    (
        "pullrequest_metrics",
        """SELECT m.*,
  CASE WHEN m.merged_on IS NOT NULL
    THEN round((julianday(m.merged_on) - julianday(m.created_on)) * 24, 2) END AS cycle_hours,
  CASE WHEN m.first_review_on IS NOT NULL
    THEN round((julianday(m.first_review_on) - julianday(m.created_on)) * 24, 2)
    END AS review_hours
FROM (
  SELECT p.id, p.source, p.repository_id, r.full_name AS repository, p.number, p.title,
    p.state, p.author_id, coalesce(u.display_name, u.nickname, p.author_id) AS author,
    p.created_on, p.updated_on, p.closed_on,
    coalesce(cb.display_name, cb.nickname, p.closed_by_id) AS closed_by,
    CASE WHEN p.state = 'MERGED' THEN p.closed_on END AS merged_on,
    (SELECT min(a.date) FROM pullrequest_activity a
      WHERE a.pullrequest_id = p.id AND a.deleted_at IS NULL
        AND a.kind IN ('approval', 'changes_requested', 'comment')
        AND a.user_id IS NOT p.author_id) AS first_review_on,
    (SELECT count(*) FROM pullrequest_participants pp
      WHERE pp.pullrequest_id = p.id AND pp.deleted_at IS NULL AND pp.approved = 1
        AND pp.user_id IS NOT p.author_id) AS approvals
  FROM pullrequests p
  LEFT JOIN repositories r ON r.id = p.repository_id
  LEFT JOIN users u ON u.id = p.author_id
  LEFT JOIN users cb ON cb.id = p.closed_by_id
  WHERE p.deleted_at IS NULL
) m""",
    ),
    (
        "issue_metrics",
        """SELECT m.*,
  CASE WHEN m.resolved_on IS NOT NULL
    THEN round(julianday(m.resolved_on) - julianday(m.created_on), 2) END AS resolve_days
FROM (
  SELECT i.id, i.source, i.repository_id, r.full_name AS repository, i.number, i.title,
    i.state, i.kind, i.priority, i.reporter_id,
    coalesce(rep.display_name, rep.nickname, i.reporter_id) AS reporter, i.assignee_id,
    coalesce(asg.display_name, asg.nickname, i.assignee_id) AS assignee,
    i.created_on, i.updated_on,
    i.state IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed') AS is_resolved,
    CASE WHEN i.state IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed') THEN (
      SELECT max(c.created_on) FROM issue_change_items c
      WHERE c.issue_id = i.id AND c.deleted_at IS NULL AND c.field = 'state'
        AND c.new IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed')
        AND coalesce(c.old, '') NOT IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed')
    ) END AS resolved_on
  FROM issues i
  LEFT JOIN repositories r ON r.id = i.repository_id
  LEFT JOIN users rep ON rep.id = i.reporter_id
  LEFT JOIN users asg ON asg.id = i.assignee_id
  WHERE i.deleted_at IS NULL
) m""",
    ),
)

# Migration 11: a pull request's size, which reports 180 and 181 bucket alike. ``lines`` is
# added + removed over its mirrored diffstat files, NULL when none is mirrored or one file's
# counts are unknown (a truncated Data Center diff); buckets XS < 10, S < 50, M < 250, L < 1000.
PULLREQUEST_SIZES: tuple[tuple[str, str], ...] = (
    (
        "pullrequest_sizes",
        """SELECT p.id, f.files, f.lines, f.added, f.removed,
  CASE WHEN f.lines IS NULL THEN 'unknown' WHEN f.lines < 10 THEN 'XS'
    WHEN f.lines < 50 THEN 'S' WHEN f.lines < 250 THEN 'M' WHEN f.lines < 1000 THEN 'L'
    ELSE 'XL' END AS bucket
FROM pullrequests p
LEFT JOIN (
  SELECT pullrequest_id, count(*) AS files,
    CASE WHEN count(lines_added) = count(*) AND count(lines_removed) = count(*)
      THEN sum(lines_added + lines_removed) END AS lines,
    sum(lines_added) AS added, sum(lines_removed) AS removed
  FROM pullrequest_files
  WHERE deleted_at IS NULL
  GROUP BY pullrequest_id
) f ON f.pullrequest_id = p.id
WHERE p.deleted_at IS NULL""",
    ),
)

# Build statuses were keyed by Cloud's ``uuid`` (which real payloads do not carry) and by
# ``{commit}/build/{key}`` on Data Center; both become ``{commit}/status/{key}`` (bitbucket-cloud.md
# §3.17: posting a key again overwrites that status). Where old rows collide on the new key, the
# most recently updated one takes it and the others get a tombstone (nothing is deleted).
STATUS_KEYS: tuple[str, ...] = (
    """UPDATE [commit_statuses] SET [id] = [commit_id] || '/status/' || [key]
    WHERE rowid IN (
      SELECT rowid FROM (
        SELECT rowid, row_number() OVER (
          PARTITION BY [commit_id], [key]
          ORDER BY [deleted_at] IS NOT NULL, [updated_on] DESC, rowid DESC
        ) AS rank
        FROM [commit_statuses] WHERE [commit_id] IS NOT NULL AND [key] IS NOT NULL
      ) WHERE rank = 1
    ) AND [id] IS NOT [commit_id] || '/status/' || [key]""",
    """UPDATE [commit_statuses] SET [deleted_at] = strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')
    WHERE [deleted_at] IS NULL
      AND ([commit_id] IS NULL OR [key] IS NULL
        OR [id] IS NOT [commit_id] || '/status/' || [key])""",
)
