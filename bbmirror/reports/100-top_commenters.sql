-- title: Who comments most
-- description: Comments per person on pull requests and issues (deleted comments excluded), with
--   how many threads they commented on. Dates filter on when the comment was written.
-- params: repository, since, until

SELECT coalesce(u.display_name, u.nickname, c.user_id) AS commenter,
  count(*) AS comments,
  sum(c.kind = 'pullrequest') AS on_pull_requests,
  sum(c.kind = 'issue') AS on_issues,
  count(DISTINCT coalesce(c.pullrequest_id, c.issue_id)) AS threads,
  max(c.created_on) AS last_comment, c.user_id
FROM comments c
LEFT JOIN users u ON u.id = c.user_id
LEFT JOIN repositories r ON r.id = c.repository_id
WHERE c.deleted_at IS NULL AND coalesce(c.deleted, 0) = 0
  AND (:repository = '' OR r.full_name = :repository)
  AND (:since = '' OR c.created_on >= :since)
  AND (:until = '' OR c.created_on < date(:until, '+1 day'))
GROUP BY c.user_id
ORDER BY comments DESC, commenter
LIMIT 200
