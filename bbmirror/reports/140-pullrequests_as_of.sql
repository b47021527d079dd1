-- title: Pullrequests as of a date
-- description: Every pullrequests row as the mirror knew it at `date` (ISO-8601, e.g.
--   2026-11-01 or 2026-11-01T12:00), rebuilt from the current rows and their
--   versions (row_versions): rows first seen later or deleted by then are left out.
--   Changes are dated by the server's updated_on when it moved, else by the run that
--   saw them. `repository_id` (optional) narrows it to one repository.
-- params: date, repository_id

WITH prev AS (
  SELECT row_id, json_group_object(col, value) AS prev FROM (
    SELECT v.row_id, j.key AS col, j.value AS value, min(v.seq)
    FROM [row_versions_stored] v, json_each(v.changed) j
    WHERE v.table_name = 'pullrequests' AND v.seq > 0 AND v.observed_at > :date
    GROUP BY v.row_id, j.key
  ) GROUP BY row_id
)
SELECT * FROM (
SELECT t.[id],
  CASE WHEN json_type(u.prev, '$.source') IS NOT NULL THEN json_extract(u.prev, '$.source') ELSE t.[source] END AS [source],
  CASE WHEN json_type(u.prev, '$.repository_id') IS NOT NULL THEN json_extract(u.prev, '$.repository_id') ELSE t.[repository_id] END AS [repository_id],
  CASE WHEN json_type(u.prev, '$.number') IS NOT NULL THEN json_extract(u.prev, '$.number') ELSE t.[number] END AS [number],
  CASE WHEN json_type(u.prev, '$.title') IS NOT NULL THEN json_extract(u.prev, '$.title') ELSE t.[title] END AS [title],
  CASE WHEN json_type(u.prev, '$.description') IS NOT NULL THEN json_extract(u.prev, '$.description') ELSE t.[description] END AS [description],
  CASE WHEN json_type(u.prev, '$.description_html') IS NOT NULL THEN json_extract(u.prev, '$.description_html') ELSE t.[description_html] END AS [description_html],
  CASE WHEN json_type(u.prev, '$.state') IS NOT NULL THEN json_extract(u.prev, '$.state') ELSE t.[state] END AS [state],
  CASE WHEN json_type(u.prev, '$.author_id') IS NOT NULL THEN json_extract(u.prev, '$.author_id') ELSE t.[author_id] END AS [author_id],
  CASE WHEN json_type(u.prev, '$.source_repository_id') IS NOT NULL THEN json_extract(u.prev, '$.source_repository_id') ELSE t.[source_repository_id] END AS [source_repository_id],
  CASE WHEN json_type(u.prev, '$.source_branch') IS NOT NULL THEN json_extract(u.prev, '$.source_branch') ELSE t.[source_branch] END AS [source_branch],
  CASE WHEN json_type(u.prev, '$.source_commit') IS NOT NULL THEN json_extract(u.prev, '$.source_commit') ELSE t.[source_commit] END AS [source_commit],
  CASE WHEN json_type(u.prev, '$.destination_repository_id') IS NOT NULL THEN json_extract(u.prev, '$.destination_repository_id') ELSE t.[destination_repository_id] END AS [destination_repository_id],
  CASE WHEN json_type(u.prev, '$.destination_branch') IS NOT NULL THEN json_extract(u.prev, '$.destination_branch') ELSE t.[destination_branch] END AS [destination_branch],
  CASE WHEN json_type(u.prev, '$.destination_commit') IS NOT NULL THEN json_extract(u.prev, '$.destination_commit') ELSE t.[destination_commit] END AS [destination_commit],
  CASE WHEN json_type(u.prev, '$.merge_commit') IS NOT NULL THEN json_extract(u.prev, '$.merge_commit') ELSE t.[merge_commit] END AS [merge_commit],
  CASE WHEN json_type(u.prev, '$.closed_by_id') IS NOT NULL THEN json_extract(u.prev, '$.closed_by_id') ELSE t.[closed_by_id] END AS [closed_by_id],
  CASE WHEN json_type(u.prev, '$.reason') IS NOT NULL THEN json_extract(u.prev, '$.reason') ELSE t.[reason] END AS [reason],
  CASE WHEN json_type(u.prev, '$.comment_count') IS NOT NULL THEN json_extract(u.prev, '$.comment_count') ELSE t.[comment_count] END AS [comment_count],
  CASE WHEN json_type(u.prev, '$.task_count') IS NOT NULL THEN json_extract(u.prev, '$.task_count') ELSE t.[task_count] END AS [task_count],
  CASE WHEN json_type(u.prev, '$.close_source_branch') IS NOT NULL THEN json_extract(u.prev, '$.close_source_branch') ELSE t.[close_source_branch] END AS [close_source_branch],
  CASE WHEN json_type(u.prev, '$.draft') IS NOT NULL THEN json_extract(u.prev, '$.draft') ELSE t.[draft] END AS [draft],
  CASE WHEN json_type(u.prev, '$.version') IS NOT NULL THEN json_extract(u.prev, '$.version') ELSE t.[version] END AS [version],
  CASE WHEN json_type(u.prev, '$.created_on') IS NOT NULL THEN json_extract(u.prev, '$.created_on') ELSE t.[created_on] END AS [created_on],
  CASE WHEN json_type(u.prev, '$.updated_on') IS NOT NULL THEN json_extract(u.prev, '$.updated_on') ELSE t.[updated_on] END AS [updated_on],
  CASE WHEN json_type(u.prev, '$.closed_on') IS NOT NULL THEN json_extract(u.prev, '$.closed_on') ELSE t.[closed_on] END AS [closed_on],
  CASE WHEN json_type(u.prev, '$.deleted_at') IS NOT NULL THEN json_extract(u.prev, '$.deleted_at') ELSE t.[deleted_at] END AS [deleted_at]
FROM [pullrequests] t LEFT JOIN prev u ON u.row_id = t.[id]
WHERE NOT EXISTS (
    SELECT 1 FROM [row_versions_stored] i WHERE i.table_name = 'pullrequests' AND i.row_id = t.[id]
      AND i.kind = 'insert' AND i.observed_at > :date
  )
  AND NOT coalesce(coalesce(t.[updated_on], t.[created_on], t.[synced_at]) > :date AND t.[synced_at] > (SELECT [began] FROM [_history_meta] WHERE [id] = 1) AND NOT EXISTS (SELECT 1 FROM [_history_prunes] x WHERE t.[synced_at] < x.[pruned_at] AND coalesce(t.[updated_on], t.[created_on], t.[synced_at]) < x.[cutoff]) AND NOT EXISTS (SELECT 1 FROM [row_versions_stored] k WHERE k.[table_name] = 'pullrequests' AND k.[row_id] = t.[id]), 0)
  AND (coalesce(:repository_id, '') = '' OR t.[repository_id] = :repository_id)
) WHERE [deleted_at] IS NULL
