-- title: Review load per reviewer
-- description: For each person other than the author who reviews pull requests (a listed
--   reviewer, an approver or someone requesting changes): pull requests assigned, open
--   ones still waiting for their approval, approvals and change requests. Dates filter
--   on when the pull request was opened.
-- params: repository, since, until

SELECT coalesce(u.display_name, u.nickname, pp.user_id) AS reviewer,
  sum(pp.is_reviewer = 1) AS assigned,
  sum(pp.is_reviewer = 1 AND p.state = 'OPEN' AND coalesce(pp.approved, 0) = 0)
    AS open_waiting,
  sum(coalesce(pp.approved, 0) = 1) AS approved,
  sum(coalesce(pp.state, '') = 'changes_requested') AS changes_requested,
  count(*) AS pull_requests, pp.user_id
FROM pullrequest_participants pp
JOIN pullrequest_metrics p ON p.id = pp.pullrequest_id
LEFT JOIN users u ON u.id = pp.user_id
WHERE pp.deleted_at IS NULL
  AND pp.user_id IS NOT p.author_id
  AND (pp.is_reviewer = 1 OR pp.approved = 1 OR pp.state IS NOT NULL)
  AND (:repository = '' OR p.repository = :repository)
  AND (:since = '' OR p.created_on >= :since)
  AND (:until = '' OR p.created_on < date(:until, '+1 day'))
GROUP BY pp.user_id
ORDER BY assigned DESC, approved DESC, reviewer
