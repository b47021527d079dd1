-- title: Issue time to resolve by month
-- description: Days from creation to resolution, per month of resolution. An issue is resolved
--   when its state is resolved, invalid, duplicate, wontfix or closed; it was resolved
--   at the latest change-log entry that moved it into one of those from another state.
--   Median and 90th percentile (nearest rank).
-- params: repository, kind, since, until

WITH resolved AS (
  SELECT strftime('%Y-%m', resolved_on) AS month, resolve_days AS days
  FROM issue_metrics
  WHERE resolved_on IS NOT NULL
    AND (:repository = '' OR repository = :repository)
    AND (:kind = '' OR kind = :kind)
    AND (:since = '' OR resolved_on >= :since)
    AND (:until = '' OR resolved_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT month, days,
    row_number() OVER (PARTITION BY month ORDER BY days) AS rn,
    count(*) OVER (PARTITION BY month) AS n
  FROM resolved
)
SELECT month, max(n) AS resolved,
  round(avg(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN days END), 2) AS median_days,
  max(CASE WHEN rn = (9 * n + 9) / 10 THEN days END) AS p90_days,
  round(avg(days), 2) AS mean_days
FROM ranked
GROUP BY month
ORDER BY month DESC
