-- title: DORA: time to restore service
-- description: Hours from a failed production deployment to the next successful one in the same
--   environment, per repository and month of the failure. Production deployments are those to
--   an environment of type production that completed SUCCESSFUL or FAILED. An incident starts
--   at a FAILED one whose previous completed deployment in that environment did not fail (a
--   run of failures is one incident) and ends when the next SUCCESSFUL one completes, a fix or
--   a rollback alike. Incidents not yet restored are counted as open and left out of the
--   times. Median (mean of the two middle values when the count is even) and 90th percentile
--   (nearest rank). Filter by repository (full name) and failure dates (YYYY-MM-DD, inclusive).
-- params: repository, since, until

WITH prod AS (
  SELECT d.id, d.repository_id, d.environment_id, d.result, d.completed_on,
    lag(d.result) OVER (PARTITION BY d.environment_id ORDER BY d.completed_on) AS before
  FROM deployments d
  JOIN environments e ON e.id = d.environment_id AND e.deleted_at IS NULL
  WHERE d.deleted_at IS NULL AND e.type = 'production'
    AND d.state = 'COMPLETED' AND d.result IN ('SUCCESSFUL', 'FAILED')
),
incidents AS (
  SELECT f.repository_id, f.completed_on AS failed_on,
    (SELECT min(s.completed_on) FROM prod s
     WHERE s.environment_id = f.environment_id AND s.result = 'SUCCESSFUL'
       AND s.completed_on > f.completed_on) AS restored_on
  FROM prod f
  WHERE f.result = 'FAILED' AND coalesce(f.before, '') <> 'FAILED'
),
picked AS (
  SELECT r.full_name AS repository, strftime('%Y-%m', i.failed_on) AS month, i.restored_on,
    (julianday(i.restored_on) - julianday(i.failed_on)) * 24 AS hours
  FROM incidents i JOIN repositories r ON r.id = i.repository_id
  WHERE (:repository = '' OR r.full_name = :repository)
    AND (:since = '' OR i.failed_on >= :since)
    AND (:until = '' OR i.failed_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT repository, month, hours,
    row_number() OVER (PARTITION BY repository, month ORDER BY hours IS NULL, hours) AS rn,
    count(hours) OVER (PARTITION BY repository, month) AS n
  FROM picked
)
SELECT repository, month, count(*) AS incidents, count(hours) AS restored,
  count(*) - count(hours) AS still_open,
  round(avg(CASE WHEN hours IS NOT NULL AND rn IN ((n + 1) / 2, (n + 2) / 2) THEN hours END), 2)
    AS median_hours,
  round(max(CASE WHEN hours IS NOT NULL AND rn = (9 * n + 9) / 10 THEN hours END), 2) AS p90_hours
FROM ranked
GROUP BY repository, month
ORDER BY repository, month DESC
