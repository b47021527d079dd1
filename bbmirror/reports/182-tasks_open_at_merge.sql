-- title: Tasks open at merge
-- description: Merged pull requests that had unresolved tasks when they were merged, per
--   repository and month of merge. A task was open at merge when it was created at or before
--   the merge (merged_on: the first activity that moved the PR to MERGED) and was not resolved
--   by then: resolved_on is later than the merge, or it has no resolved_on and is not RESOLVED
--   now. A task resolved without a date (Data Center before 8.x gives none) counts as resolved
--   before the merge; a task reopened after the merge shows its current state only (the API
--   keeps no history); deleted tasks are left out. Cloud tasks are mirrored only for pull
--   requests whose task_count (open tasks) was above 0 when the mirror read them. Filter by
--   repository (full name) and merge dates (YYYY-MM-DD, inclusive).
-- params: repository, since, until

WITH merged AS (
  SELECT id, repository, strftime('%Y-%m', merged_on) AS month, merged_on
  FROM pullrequest_metrics
  WHERE merged_on IS NOT NULL
    AND (:repository = '' OR repository = :repository)
    AND (:since = '' OR merged_on >= :since)
    AND (:until = '' OR merged_on < date(:until, '+1 day'))
),
open_at_merge AS (
  SELECT m.id, count(t.id) AS tasks
  FROM merged m
  JOIN pullrequest_tasks t ON t.pullrequest_id = m.id AND t.deleted_at IS NULL
  WHERE t.created_on <= m.merged_on
    AND (t.resolved_on > m.merged_on
      OR (t.resolved_on IS NULL AND t.state IS NOT 'RESOLVED'))
  GROUP BY m.id
)
SELECT m.repository, m.month, count(*) AS merged,
  count(o.id) AS merged_with_open_tasks,
  coalesce(sum(o.tasks), 0) AS open_tasks,
  round(100.0 * count(o.id) / count(*), 1) AS percent_with_open_tasks
FROM merged m
LEFT JOIN open_at_merge o ON o.id = m.id
GROUP BY m.repository, m.month
ORDER BY m.month DESC, m.repository
