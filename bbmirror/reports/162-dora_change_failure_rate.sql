-- title: DORA: change failure rate
-- description: The share of production deployments that failed or needed remedy, per repository
--   and month of the deployment's completion. Counted: deployments to a production environment
--   that completed SUCCESSFUL or FAILED (STOPPED ones are neither), except rollbacks. A
--   rollback is a deployment of a commit that an earlier deployment had already deployed
--   successfully to the same environment: it remedies a change, it is not one. A counted
--   deployment is a failure when it FAILED itself, or when the same environment gets a rollback
--   or a fix within window_hours (default 24) of its completion. A fix is a deployment whose
--   commit's message starts with fix, hotfix or revert (any case). A failed deployment followed
--   by another failed one counts each once, as its own failure. Filter by repository (full
--   name) and completion dates (YYYY-MM-DD, inclusive).
-- params: repository, since, until, window_hours

WITH prod AS (
  SELECT d.id, d.repository_id, d.environment_id, d.commit_hash, d.result, d.started_on,
    d.completed_on, lower(coalesce(c.message, '')) AS message
  FROM deployments d
  JOIN environments e ON e.id = d.environment_id AND e.deleted_at IS NULL
  LEFT JOIN commits c ON c.id = d.commit_id AND c.deleted_at IS NULL
  WHERE d.deleted_at IS NULL AND e.type = 'production'
    AND d.state = 'COMPLETED' AND d.result IN ('SUCCESSFUL', 'FAILED')
),
marked AS (
  SELECT p.*,
    EXISTS (
      SELECT 1 FROM prod q
      WHERE q.environment_id = p.environment_id AND q.commit_hash = p.commit_hash
        AND q.result = 'SUCCESSFUL' AND q.completed_on < p.started_on
    ) AS rollback,
    (p.message LIKE 'fix%' OR p.message LIKE 'hotfix%' OR p.message LIKE 'revert%') AS fix
  FROM prod p
),
judged AS (
  SELECT m.repository_id, m.completed_on,
    m.result = 'FAILED' OR EXISTS (
      SELECT 1 FROM marked n
      WHERE n.environment_id = m.environment_id AND n.id <> m.id
        AND (n.rollback OR n.fix)
        AND julianday(n.started_on) > julianday(m.completed_on)
        AND julianday(n.started_on)
          <= julianday(m.completed_on) + coalesce(nullif(:window_hours, ''), 24) / 24.0
    ) AS failed
  FROM marked m
  WHERE NOT m.rollback
)
SELECT r.full_name AS repository, strftime('%Y-%m', j.completed_on) AS month,
  count(*) AS deployments, sum(j.failed) AS failures,
  round(100.0 * sum(j.failed) / count(*), 1) AS failure_rate_percent
FROM judged j JOIN repositories r ON r.id = j.repository_id
WHERE (:repository = '' OR r.full_name = :repository)
  AND (:since = '' OR j.completed_on >= :since)
  AND (:until = '' OR j.completed_on < date(:until, '+1 day'))
GROUP BY repository, month
ORDER BY repository, month DESC
