-- title: Pipeline success rate, duration and build minutes
-- description: Bitbucket Cloud Pipelines runs that completed, per repository, branch (a pull
--   request's source branch) and month of the run's creation: runs, success rate (percent of
--   completed runs whose result is SUCCESSFUL; FAILED, ERROR, STOPPED and EXPIRED count as not
--   successful), duration in minutes from creation to completion (median: mean of the two middle
--   values when the count is even; 90th percentile: nearest rank) and build minutes used (the
--   sum of build_seconds_used / 60). Runs still pending or in progress are left out. Filter by
--   repository (full name), branch and creation dates (YYYY-MM-DD, inclusive).
-- params: repository, branch, since, until

WITH runs AS (
  SELECT r.full_name AS repository, p.ref_name AS branch,
    strftime('%Y-%m', p.created_on) AS month, p.result,
    p.duration_seconds / 60.0 AS minutes, p.build_seconds_used
  FROM pipelines p JOIN repositories r ON r.id = p.repository_id
  WHERE p.deleted_at IS NULL AND p.state = 'COMPLETED'
    AND (:repository = '' OR r.full_name = :repository)
    AND (:branch = '' OR p.ref_name = :branch)
    AND (:since = '' OR p.created_on >= :since)
    AND (:until = '' OR p.created_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT *,
    row_number() OVER (PARTITION BY repository, branch, month ORDER BY minutes) AS rn,
    count(*) OVER (PARTITION BY repository, branch, month) AS n
  FROM runs
)
SELECT repository, branch, month, max(n) AS runs,
  round(100.0 * sum(result = 'SUCCESSFUL') / count(*), 1) AS success_rate,
  round(avg(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN minutes END), 2) AS median_minutes,
  round(max(CASE WHEN rn = (9 * n + 9) / 10 THEN minutes END), 2) AS p90_minutes,
  round(sum(build_seconds_used) / 60.0, 2) AS build_minutes
FROM ranked
GROUP BY repository, branch, month
ORDER BY month DESC, repository, branch
