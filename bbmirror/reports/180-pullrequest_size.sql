-- title: Pull request size by repository and month
-- description: How big pull requests are, per repository and month of opening. A pull
--   request's size is the lines added plus removed over the files of its diffstat (Cloud:
--   the three-way diffstat of its source commit; Data Center: its diff), as last read for
--   its current source commit. Buckets: XS under 10 lines, S 10-49, M 50-249, L 250-999, XL
--   1000 or more; "unknown" when no file is mirrored (not read yet, a fork, or an empty diff)
--   or a file's line counts are unknown (a truncated Data Center diff). Medians are the mean
--   of the two middle values when the count is even. Filter by repository (full name) and
--   opening dates (YYYY-MM-DD, inclusive).
-- params: repository, since, until

WITH sized AS (
  SELECT m.repository, strftime('%Y-%m', m.created_on) AS month, s.files, s.lines, s.added,
    s.removed, s.bucket
  FROM pullrequest_metrics m
  JOIN pullrequest_sizes s ON s.id = m.id
  WHERE (:repository = '' OR m.repository = :repository)
    AND (:since = '' OR m.created_on >= :since)
    AND (:until = '' OR m.created_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT *,
    row_number() OVER (PARTITION BY repository, month, bucket ORDER BY lines) AS line_rank,
    row_number() OVER (PARTITION BY repository, month, bucket ORDER BY files) AS file_rank,
    count(*) OVER (PARTITION BY repository, month, bucket) AS n
  FROM sized
)
SELECT repository, month, bucket, count(*) AS pull_requests,
  avg(CASE WHEN line_rank IN ((n + 1) / 2, (n + 2) / 2) THEN lines END) AS median_lines,
  avg(CASE WHEN file_rank IN ((n + 1) / 2, (n + 2) / 2) THEN files END) AS median_files,
  sum(added) AS lines_added, sum(removed) AS lines_removed
FROM ranked
GROUP BY repository, month, bucket
ORDER BY repository, month DESC,
  CASE bucket WHEN 'XS' THEN 1 WHEN 'S' THEN 2 WHEN 'M' THEN 3 WHEN 'L' THEN 4 WHEN 'XL' THEN 5
    ELSE 6 END
