-- title: What changed in a repository between two dates
-- description: Every version the mirror kept (row_versions) of the repository's own row and of
--   the rows that belong to it (pull requests, issues, branches, tags, comments...) observed in
--   [`from`, `to`) (ISO-8601 dates; empty means unbounded), newest first: the kind of change,
--   the columns that changed with their previous values, and the run that saw it.
--   `repository` is a full name (workspace/slug) or a repository id.
-- params: repository, from, to

WITH repo AS (
  SELECT id FROM repositories WHERE id = :repository OR full_name = :repository
)
SELECT v.observed_at, v.table_name, v.row_id,
  coalesce(p.title, i.title, b.name, t.name, substr(c.body, 1, 80)) AS label,
  v.kind, v.changed AS previous_values, v.run_id
FROM row_versions v
JOIN repo r ON v.row_id = r.id
  OR (v.row_id > r.id || '/' AND v.row_id < r.id || '0')
  OR (v.table_name = 'comments'
    AND v.row_id IN (SELECT id FROM comments WHERE repository_id = r.id))
LEFT JOIN pullrequests p ON v.table_name = 'pullrequests' AND p.id = v.row_id
LEFT JOIN issues i ON v.table_name = 'issues' AND i.id = v.row_id
LEFT JOIN branches b ON v.table_name = 'branches' AND b.id = v.row_id
LEFT JOIN tags t ON v.table_name = 'tags' AND t.id = v.row_id
LEFT JOIN comments c ON v.table_name = 'comments' AND c.id = v.row_id
WHERE (coalesce(:from, '') = '' OR v.observed_at >= :from)
  AND (coalesce(:to, '') = '' OR v.observed_at < :to)
ORDER BY v.observed_at DESC, v.table_name, v.row_id, v.seq DESC
