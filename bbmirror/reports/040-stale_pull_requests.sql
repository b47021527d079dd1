-- title: Stale open pull requests
-- description: Open pull requests with no update for at least `days` days (default 14) before
--   `as_of` (default now; a date or an ISO timestamp), oldest update first.
-- params: repository, author, days, as_of

SELECT repository, number, title, author, created_on, updated_on,
  round(julianday(coalesce(nullif(:as_of, ''), 'now')) - julianday(updated_on), 1) AS idle_days,
  round(julianday(coalesce(nullif(:as_of, ''), 'now')) - julianday(created_on), 1) AS age_days,
  approvals, first_review_on, id
FROM pullrequest_metrics
WHERE state = 'OPEN'
  AND (:repository = '' OR repository = :repository)
  AND (:author = '' OR author = :author)
  AND julianday(coalesce(nullif(:as_of, ''), 'now')) - julianday(updated_on)
    >= CAST(coalesce(nullif(:days, ''), 14) AS REAL)
ORDER BY updated_on
