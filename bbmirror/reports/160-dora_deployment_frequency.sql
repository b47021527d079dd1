-- title: DORA: deployment frequency
-- description: Successful production deployments per repository and month. A deployment counts
--   when its environment's type is production (Cloud's environment type; Data Center's
--   environment type) and it completed with result SUCCESSFUL; it is counted in the month (UTC)
--   it completed. Also shown: the distinct days with one, and the distinct commits (releases)
--   deployed, so that redeploys of the same release stand out. Filter by repository (full name,
--   e.g. acme/api) and completion dates (YYYY-MM-DD, inclusive).
-- params: repository, since, until

SELECT r.full_name AS repository, strftime('%Y-%m', d.completed_on) AS month,
  count(*) AS deployments,
  count(DISTINCT date(d.completed_on)) AS days_with_deployments,
  count(DISTINCT d.commit_hash) AS releases
FROM deployments d
JOIN environments e ON e.id = d.environment_id AND e.deleted_at IS NULL
JOIN repositories r ON r.id = d.repository_id
WHERE d.deleted_at IS NULL AND e.type = 'production'
  AND d.state = 'COMPLETED' AND d.result = 'SUCCESSFUL'
  AND (:repository = '' OR r.full_name = :repository)
  AND (:since = '' OR d.completed_on >= :since)
  AND (:until = '' OR d.completed_on < date(:until, '+1 day'))
GROUP BY repository, month
ORDER BY repository, month DESC
