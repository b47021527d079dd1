-- title: Sync freshness per source
-- description: For each configured Bitbucket source: the last run and how it ended, the last
--   successful run (ok, or partial: finished with quarantined records) and how many
--   hours before `as_of` (default now) it finished, run and error counts, and the
--   oldest stream checkpoint.
-- params: as_of

WITH names AS (
  SELECT source FROM sync_runs UNION SELECT source FROM sync_state
),
last_run AS (
  SELECT r.* FROM sync_runs r
  WHERE r.id = (SELECT max(id) FROM sync_runs x WHERE x.source = r.source)
),
success AS (
  SELECT source, max(finished_at) AS finished_at FROM sync_runs
  WHERE outcome IN ('ok', 'partial') GROUP BY source
)
SELECT n.source,
  s.finished_at AS last_success,
  round((julianday(coalesce(nullif(:as_of, ''), 'now')) - julianday(s.finished_at)) * 24, 2) AS hours_since_success,
  l.started_at AS last_run_started, l.outcome AS last_run_outcome,
  l.requests AS last_run_requests, l.errors AS last_run_errors,
  l.message AS last_run_message,
  (SELECT count(*) FROM sync_runs x WHERE x.source = n.source) AS runs,
  (SELECT count(*) FROM sync_runs x WHERE x.source = n.source
    AND x.outcome IN ('failed', 'interrupted')) AS failed_runs,
  (SELECT count(*) FROM sync_errors e WHERE e.source = n.source) AS quarantined,
  (SELECT count(*) FROM sync_state t WHERE t.source = n.source) AS streams,
  (SELECT min(updated_at) FROM sync_state t WHERE t.source = n.source)
    AS oldest_checkpoint
FROM names n
LEFT JOIN last_run l ON l.source = n.source
LEFT JOIN success s ON s.source = n.source
ORDER BY n.source
