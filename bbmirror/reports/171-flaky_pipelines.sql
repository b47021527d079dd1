-- title: Flaky pipelines (failed, then passed on the same commit)
-- description: Commits whose Bitbucket Cloud Pipelines runs failed and then passed for the same
--   target (same branch, or same pull request) with no new commit: a failure (result FAILED or
--   ERROR) followed by a SUCCESSFUL run with a higher build number. runs counts every completed
--   run of that commit and target; failures the failed runs before the first pass; hours_to_green
--   the hours from the first failure's creation to the first pass's completion. Filter by
--   repository (full name) and the first failure's dates (YYYY-MM-DD, inclusive).
-- params: repository, since, until

WITH runs AS (
  SELECT r.full_name AS repository, p.commit_hash, p.ref_name,
    coalesce(p.pullrequest_id, '') AS target, pr.number AS pullrequest, p.build_number,
    p.result, p.created_on, p.completed_on
  FROM pipelines p
  JOIN repositories r ON r.id = p.repository_id
  LEFT JOIN pullrequests pr ON pr.id = p.pullrequest_id
  WHERE p.deleted_at IS NULL AND p.state = 'COMPLETED' AND p.commit_hash IS NOT NULL
    AND (:repository = '' OR r.full_name = :repository)
),
first_fail AS (
  SELECT repository, commit_hash, target, min(build_number) AS failed_build
  FROM runs WHERE result IN ('FAILED', 'ERROR')
  GROUP BY repository, commit_hash, target
),
first_pass AS (
  SELECT f.repository, f.commit_hash, f.target, f.failed_build, min(r.build_number) AS passed_build
  FROM first_fail f JOIN runs r USING (repository, commit_hash, target)
  WHERE r.result = 'SUCCESSFUL' AND r.build_number > f.failed_build
  GROUP BY f.repository, f.commit_hash, f.target
)
SELECT p.repository, p.commit_hash, f.ref_name AS branch, f.pullrequest,
  (SELECT count(*) FROM runs a WHERE a.repository = p.repository
     AND a.commit_hash = p.commit_hash AND a.target = p.target) AS runs,
  (SELECT count(*) FROM runs a WHERE a.repository = p.repository
     AND a.commit_hash = p.commit_hash AND a.target = p.target
     AND a.result IN ('FAILED', 'ERROR') AND a.build_number < p.passed_build) AS failures,
  f.build_number AS failed_build, f.created_on AS first_failure_on,
  s.build_number AS passed_build, s.completed_on AS first_pass_on,
  round((julianday(s.completed_on) - julianday(f.created_on)) * 24, 2) AS hours_to_green
FROM first_pass p
JOIN runs f ON f.repository = p.repository AND f.commit_hash = p.commit_hash
  AND f.target = p.target AND f.build_number = p.failed_build
JOIN runs s ON s.repository = p.repository AND s.commit_hash = p.commit_hash
  AND s.target = p.target AND s.build_number = p.passed_build
WHERE (:since = '' OR f.created_on >= :since)
  AND (:until = '' OR f.created_on < date(:until, '+1 day'))
ORDER BY f.created_on DESC
