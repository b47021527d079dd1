-- title: Oldest open issues
-- description: Issues still new, open, on hold or submitted, oldest first, with their age in days
--   at `as_of` (default now).
-- params: repository, kind, priority, as_of

SELECT repository, number, title, state, kind, priority, assignee, created_on,
  updated_on, round(julianday(coalesce(nullif(:as_of, ''), 'now')) - julianday(created_on), 1) AS age_days, id
FROM issue_metrics
WHERE state IN ('new', 'open', 'on hold', 'submitted')
  AND (:repository = '' OR repository = :repository)
  AND (:kind = '' OR kind = :kind)
  AND (:priority = '' OR priority = :priority)
ORDER BY created_on, repository, number
LIMIT 200
