-- title: Time to first review by month
-- description: Hours from opening a pull request to its first review: the earliest approval,
--   change request or comment by anyone but the author. Per month of opening; median
--   and 90th percentile over the reviewed ones.
-- params: repository, author, since, until

WITH opened AS (
  SELECT strftime('%Y-%m', created_on) AS month, review_hours AS hours
  FROM pullrequest_metrics
  WHERE (:repository = '' OR repository = :repository)
    AND (:author = '' OR author = :author)
    AND (:since = '' OR created_on >= :since)
    AND (:until = '' OR created_on < date(:until, '+1 day'))
),
ranked AS (
  SELECT month, hours,
    row_number() OVER (PARTITION BY month ORDER BY hours IS NULL, hours) AS rn,
    count(hours) OVER (PARTITION BY month) AS n
  FROM opened
)
SELECT month, count(*) AS opened, count(hours) AS reviewed,
  round(avg(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN hours END), 2) AS median_hours,
  max(CASE WHEN rn = (9 * n + 9) / 10 THEN hours END) AS p90_hours
FROM ranked
GROUP BY month
ORDER BY month DESC
