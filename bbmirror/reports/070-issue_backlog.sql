-- title: Issue backlog by state, kind and priority
-- description: How many issues are in each state, kind and priority; how many of them have no
--   assignee, and the oldest one's creation date.
-- params: repository

SELECT state, kind, priority, count(*) AS issues,
  sum(assignee_id IS NULL) AS unassigned, min(created_on) AS oldest
FROM issue_metrics
WHERE (:repository = '' OR repository = :repository)
GROUP BY state, kind, priority
ORDER BY
  CASE state WHEN 'new' THEN 0 WHEN 'open' THEN 1 WHEN 'submitted' THEN 2
    WHEN 'on hold' THEN 3 WHEN 'resolved' THEN 4 WHEN 'closed' THEN 5 ELSE 6 END,
  state, kind,
  CASE priority WHEN 'blocker' THEN 0 WHEN 'critical' THEN 1 WHEN 'major' THEN 2
    WHEN 'minor' THEN 3 WHEN 'trivial' THEN 4 ELSE 5 END
