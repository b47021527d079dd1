-- title: Requests spent against the budget
-- description: API requests per source and hour (runs counted in the hour they started), against
--   a budget of `budget` requests per hour (default 1,000, Bitbucket Cloud's limit for
--   most endpoints; set it to your source's `budget`). Newest hour first.
-- params: source, budget, since, until

SELECT strftime('%Y-%m-%dT%H:00Z', started_at) AS hour, source,
  count(*) AS runs, sum(coalesce(requests, 0)) AS requests,
  CAST(coalesce(nullif(:budget, ''), 1000) AS INTEGER) AS budget,
  round(100.0 * sum(coalesce(requests, 0))
    / CAST(coalesce(nullif(:budget, ''), 1000) AS INTEGER), 1) AS percent_of_budget
FROM sync_runs
WHERE (:source = '' OR source = :source)
  AND (:since = '' OR started_at >= :since)
  AND (:until = '' OR started_at < date(:until, '+1 day'))
GROUP BY hour, source
ORDER BY hour DESC, source
