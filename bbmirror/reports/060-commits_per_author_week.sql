-- title: Commits per author per week
-- description: Commits reachable from branches and tags, per author (their Bitbucket name, or the
--   name in the commit) and week (starting Monday, UTC), newest week first.
-- params: repository, author, since, until

SELECT date(c.date, 'weekday 0', '-6 days') AS week,
  coalesce(u.display_name, c.author_name, c.author_email, c.author_raw) AS author,
  count(*) AS commits,
  count(DISTINCT c.repository_id) AS repositories, c.author_id
FROM commits c
LEFT JOIN users u ON u.id = c.author_id
LEFT JOIN repositories r ON r.id = c.repository_id
WHERE c.deleted_at IS NULL
  AND (:repository = '' OR r.full_name = :repository)
  AND (:author = ''
    OR coalesce(u.display_name, c.author_name, c.author_email, c.author_raw) = :author)
  AND (:since = '' OR c.date >= :since)
  AND (:until = '' OR c.date < date(:until, '+1 day'))
GROUP BY week, coalesce(c.author_id, c.author_name, c.author_email, c.author_raw)
ORDER BY week DESC, commits DESC, author
