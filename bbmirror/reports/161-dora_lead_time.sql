-- title: DORA: lead time for changes
-- description: Hours from a change's commit to the production deployment that first shipped it,
--   per repository and month of that deployment. A change is a commit; a release contains every
--   commit its deployed commit reaches on the mirrored commit graph (commit_parents), so a
--   commit ships with the first successful production deployment (by completion time) whose
--   commit reaches it: exactly the commits of that release not in an earlier one. The graph,
--   not pull requests, decides, because it also counts direct pushes and needs no PR child
--   lists, and it means the same on Cloud and Data Center. Lead time runs from the commit's
--   author date to that deployment's completion. Commits shipped by a repository's first
--   successful production deployment are left out (their age is the history before it, not a
--   lead time), and so are redeploys of an earlier release (they ship nothing new). Median
--   (mean of the two middle values when the count is even) and 90th percentile (nearest rank).
--   Filter by repository (full name) and deployment dates (YYYY-MM-DD, inclusive).
-- params: repository, since, until

WITH RECURSIVE prod AS MATERIALIZED (
  SELECT d.id, d.repository_id, d.commit_id, d.completed_on
  FROM deployments d
  JOIN environments e ON e.id = d.environment_id AND e.deleted_at IS NULL
  WHERE d.deleted_at IS NULL AND e.type = 'production' AND d.commit_id IS NOT NULL
    AND d.state = 'COMPLETED' AND d.result = 'SUCCESSFUL'
),
shipping AS MATERIALIZED (  -- the first successful production deployment of each release commit
  SELECT p.* FROM prod p
  WHERE NOT EXISTS (
    SELECT 1 FROM prod q WHERE q.commit_id = p.commit_id AND q.completed_on < p.completed_on
  )
),
latest AS (  -- each repository's newest release commit
  SELECT s.repository_id, s.commit_id FROM shipping s
  WHERE s.completed_on = (SELECT max(completed_on) FROM shipping t
                          WHERE t.repository_id = s.repository_id)
),
chain(commit_id, depth) AS (  -- its first-parent line, newest first
  SELECT commit_id, 0 FROM latest
  UNION ALL
  SELECT cp.parent_id, c.depth + 1
  FROM chain c
  JOIN commit_parents cp ON cp.commit_id = c.commit_id AND cp.position = 0
    AND cp.deleted_at IS NULL
),
line AS MATERIALIZED (SELECT commit_id, min(depth) AS depth FROM chain GROUP BY commit_id),
floors AS MATERIALIZED (  -- per release: the newest earlier release on that line
  SELECT s.id, s.completed_on, s.commit_id,
    -- CROSS JOIN: releases first, not a scan of the whole line once per release (speed only)
    (SELECT min(l.depth) FROM shipping e CROSS JOIN line l ON l.commit_id = e.commit_id
     WHERE e.repository_id = s.repository_id AND e.completed_on < s.completed_on) AS floor
  FROM shipping s
),
reach(deployment_id, completed_on, floor, commit_id) AS (
  SELECT id, completed_on, floor, commit_id FROM floors
  UNION
  -- Stop on the line at or below an earlier release: all that reaches shipped with it.
  SELECT r.deployment_id, r.completed_on, r.floor, cp.parent_id
  FROM reach r
  JOIN commit_parents cp ON cp.commit_id = r.commit_id AND cp.deleted_at IS NULL
  LEFT JOIN line l ON l.commit_id = cp.parent_id
  WHERE r.floor IS NULL OR l.depth IS NULL OR l.depth < r.floor
),
first_ship AS (
  SELECT commit_id, min(completed_on) AS shipped_on FROM reach GROUP BY commit_id
),
changes AS (
  SELECT c.repository_id, f.shipped_on,
    (julianday(f.shipped_on) - julianday(c.date)) * 24 AS hours
  FROM first_ship f
  JOIN commits c ON c.id = f.commit_id AND c.deleted_at IS NULL
  WHERE f.shipped_on > (SELECT min(completed_on) FROM prod p WHERE p.repository_id = c.repository_id)
),
picked AS (
  SELECT rp.full_name AS repository, strftime('%Y-%m', ch.shipped_on) AS month, ch.hours,
    ch.shipped_on
  FROM changes ch JOIN repositories rp ON rp.id = ch.repository_id
  WHERE (:repository = '' OR rp.full_name = :repository)
    AND (:since = '' OR ch.shipped_on >= :since)
    AND (:until = '' OR ch.shipped_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT repository, month, hours, shipped_on,
    row_number() OVER (PARTITION BY repository, month ORDER BY hours) AS rn,
    count(*) OVER (PARTITION BY repository, month) AS n
  FROM picked
)
SELECT repository, month, count(DISTINCT shipped_on) AS deployments, max(n) AS changes,
  round(avg(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN hours END), 2) AS median_hours,
  round(max(CASE WHEN rn = (9 * n + 9) / 10 THEN hours END), 2) AS p90_hours
FROM ranked
GROUP BY repository, month
ORDER BY repository, month DESC
