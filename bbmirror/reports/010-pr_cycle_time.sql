-- title: Pull request cycle time by month
-- description: Hours from opening to merging, per month of merge: median (mean of the two middle
--   values when the count is even) and 90th percentile (nearest rank). Filter by
--   repository (full name, e.g. acme/api), author (display name) and merge dates
--   (YYYY-MM-DD, inclusive).
-- params: repository, author, since, until

WITH merged AS (
  SELECT strftime('%Y-%m', merged_on) AS month, cycle_hours AS hours
  FROM pullrequest_metrics
  WHERE merged_on IS NOT NULL
    AND (:repository = '' OR repository = :repository)
    AND (:author = '' OR author = :author)
    AND (:since = '' OR merged_on >= :since)
    AND (:until = '' OR merged_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT month, hours,
    row_number() OVER (PARTITION BY month ORDER BY hours) AS rn,
    count(*) OVER (PARTITION BY month) AS n
  FROM merged
)
SELECT month, max(n) AS merged,
  round(avg(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN hours END), 2) AS median_hours,
  max(CASE WHEN rn = (9 * n + 9) / 10 THEN hours END) AS p90_hours,
  round(avg(hours), 2) AS mean_hours, max(hours) AS max_hours
FROM ranked
GROUP BY month
ORDER BY month DESC
