-- title: Review time and rework by pull request size
-- description: Per size bucket (as in "Pull request size": lines added plus removed; XS under
--   10, S 10-49, M 50-249, L 250-999, XL 1000 or more, unknown when not mirrored): how many
--   pull requests, the median hours from opening to the first review (the earliest approval,
--   change request or comment by anyone but the author, as in pullrequest_metrics) over the
--   reviewed ones, the median hours from opening to merge over the merged ones, and rework:
--   updates after the first review that carry a new source commit (an update whose source
--   commit differs from the update before it), how many reviewed pull requests had any, and
--   their number per reviewed pull request. Medians are the mean of the two middle values when
--   the count is even. Filter by repository (full name) and opening dates (YYYY-MM-DD,
--   inclusive).
-- params: repository, since, until

WITH updates AS (
  SELECT pullrequest_id, date,
    source_commit IS NOT lag(source_commit) OVER (
      PARTITION BY pullrequest_id ORDER BY date, activity_id, id
    ) AS moved,
    row_number() OVER (PARTITION BY pullrequest_id ORDER BY date, activity_id, id) AS nth
  FROM pullrequest_activity
  WHERE deleted_at IS NULL AND kind = 'update'
),
sized AS (
  SELECT m.id, m.review_hours, m.cycle_hours, m.first_review_on, s.bucket,
    CASE WHEN m.first_review_on IS NOT NULL THEN (
      SELECT count(*) FROM updates u
      WHERE u.pullrequest_id = m.id AND u.nth > 1 AND u.moved AND u.date > m.first_review_on
    ) END AS rework
  FROM pullrequest_metrics m
  JOIN pullrequest_sizes s ON s.id = m.id
  WHERE (:repository = '' OR m.repository = :repository)
    AND (:since = '' OR m.created_on >= :since)
    AND (:until = '' OR m.created_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT *,
    row_number() OVER (PARTITION BY bucket ORDER BY review_hours IS NULL, review_hours) AS r_rank,
    count(review_hours) OVER (PARTITION BY bucket) AS r_n,
    row_number() OVER (PARTITION BY bucket ORDER BY cycle_hours IS NULL, cycle_hours) AS c_rank,
    count(cycle_hours) OVER (PARTITION BY bucket) AS c_n
  FROM sized
)
SELECT bucket, count(*) AS pull_requests, count(review_hours) AS reviewed,
  round(avg(CASE WHEN r_rank IN ((r_n + 1) / 2, (r_n + 2) / 2) THEN review_hours END), 2)
    AS median_review_hours,
  count(cycle_hours) AS merged,
  round(avg(CASE WHEN c_rank IN ((c_n + 1) / 2, (c_n + 2) / 2) THEN cycle_hours END), 2)
    AS median_merge_hours,
  sum(rework > 0) AS reworked, coalesce(sum(rework), 0) AS rework_updates,
  round(1.0 * sum(rework) / count(rework), 2) AS rework_per_reviewed
FROM ranked
GROUP BY bucket
ORDER BY CASE bucket WHEN 'XS' THEN 1 WHEN 'S' THEN 2 WHEN 'M' THEN 3 WHEN 'L' THEN 4
  WHEN 'XL' THEN 5 ELSE 6 END
