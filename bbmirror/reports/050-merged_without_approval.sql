-- title: Pull requests merged without approval
-- description: Merged pull requests that no one but the author approved (current approvals),
--   newest merge first. Dates filter on the merge.
-- params: repository, author, since, until

SELECT repository, number, title, author, closed_by AS merged_by, created_on, merged_on,
  cycle_hours, id
FROM pullrequest_metrics
WHERE state = 'MERGED' AND approvals = 0
  AND (:repository = '' OR repository = :repository)
  AND (:author = '' OR author = :author)
  AND (:since = '' OR merged_on >= :since)
  AND (:until = '' OR merged_on < date(:until, '+1 day'))
ORDER BY merged_on DESC
