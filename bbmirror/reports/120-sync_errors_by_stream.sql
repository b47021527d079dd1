-- title: Sync errors per source and stream
-- description: Quarantined records (sync_errors) per source and stream: how many, when first and
--   last seen, and the latest reason. The records themselves are in sync_errors.
-- params: source

SELECT e.source, e.stream, count(*) AS errors,
  min(e.created_at) AS first_seen, max(e.created_at) AS last_seen,
  (SELECT x.reason FROM sync_errors x
    WHERE x.source = e.source AND x.stream = e.stream
    ORDER BY x.id DESC LIMIT 1) AS last_reason
FROM sync_errors e
WHERE (:source = '' OR e.source = :source)
GROUP BY e.source, e.stream
ORDER BY last_seen DESC
