-- title: Issues as of a date
-- description: Every issues row as the mirror knew it at `date` (ISO-8601, e.g.
--   2026-11-01 or 2026-11-01T12:00), rebuilt from the current rows and their
--   versions (row_versions): rows first seen later or deleted by then are left out.
--   Changes are dated by the server's updated_on when it moved, else by the run that
--   saw them. `repository_id` (optional) narrows it to one repository.
-- params: date, repository_id

WITH prev AS (
  SELECT row_id, json_group_object(col, value) AS prev FROM (
    SELECT v.row_id, j.key AS col, j.value AS value, min(v.seq)
    FROM [row_versions_stored] v, json_each(v.changed) j
    WHERE v.table_name = 'issues' AND v.seq > 0 AND v.observed_at > :date
    GROUP BY v.row_id, j.key
  ) GROUP BY row_id
)
SELECT * FROM (
SELECT t.[id],
  CASE WHEN json_type(u.prev, '$.source') IS NOT NULL THEN json_extract(u.prev, '$.source') ELSE t.[source] END AS [source],
  CASE WHEN json_type(u.prev, '$.repository_id') IS NOT NULL THEN json_extract(u.prev, '$.repository_id') ELSE t.[repository_id] END AS [repository_id],
  CASE WHEN json_type(u.prev, '$.number') IS NOT NULL THEN json_extract(u.prev, '$.number') ELSE t.[number] END AS [number],
  CASE WHEN json_type(u.prev, '$.title') IS NOT NULL THEN json_extract(u.prev, '$.title') ELSE t.[title] END AS [title],
  CASE WHEN json_type(u.prev, '$.content') IS NOT NULL THEN json_extract(u.prev, '$.content') ELSE t.[content] END AS [content],
  CASE WHEN json_type(u.prev, '$.content_html') IS NOT NULL THEN json_extract(u.prev, '$.content_html') ELSE t.[content_html] END AS [content_html],
  CASE WHEN json_type(u.prev, '$.markup') IS NOT NULL THEN json_extract(u.prev, '$.markup') ELSE t.[markup] END AS [markup],
  CASE WHEN json_type(u.prev, '$.state') IS NOT NULL THEN json_extract(u.prev, '$.state') ELSE t.[state] END AS [state],
  CASE WHEN json_type(u.prev, '$.kind') IS NOT NULL THEN json_extract(u.prev, '$.kind') ELSE t.[kind] END AS [kind],
  CASE WHEN json_type(u.prev, '$.priority') IS NOT NULL THEN json_extract(u.prev, '$.priority') ELSE t.[priority] END AS [priority],
  CASE WHEN json_type(u.prev, '$.reporter_id') IS NOT NULL THEN json_extract(u.prev, '$.reporter_id') ELSE t.[reporter_id] END AS [reporter_id],
  CASE WHEN json_type(u.prev, '$.assignee_id') IS NOT NULL THEN json_extract(u.prev, '$.assignee_id') ELSE t.[assignee_id] END AS [assignee_id],
  CASE WHEN json_type(u.prev, '$.milestone_id') IS NOT NULL THEN json_extract(u.prev, '$.milestone_id') ELSE t.[milestone_id] END AS [milestone_id],
  CASE WHEN json_type(u.prev, '$.version_id') IS NOT NULL THEN json_extract(u.prev, '$.version_id') ELSE t.[version_id] END AS [version_id],
  CASE WHEN json_type(u.prev, '$.component_id') IS NOT NULL THEN json_extract(u.prev, '$.component_id') ELSE t.[component_id] END AS [component_id],
  CASE WHEN json_type(u.prev, '$.milestone_name') IS NOT NULL THEN json_extract(u.prev, '$.milestone_name') ELSE t.[milestone_name] END AS [milestone_name],
  CASE WHEN json_type(u.prev, '$.version_name') IS NOT NULL THEN json_extract(u.prev, '$.version_name') ELSE t.[version_name] END AS [version_name],
  CASE WHEN json_type(u.prev, '$.component_name') IS NOT NULL THEN json_extract(u.prev, '$.component_name') ELSE t.[component_name] END AS [component_name],
  CASE WHEN json_type(u.prev, '$.votes') IS NOT NULL THEN json_extract(u.prev, '$.votes') ELSE t.[votes] END AS [votes],
  CASE WHEN json_type(u.prev, '$.watchers') IS NOT NULL THEN json_extract(u.prev, '$.watchers') ELSE t.[watchers] END AS [watchers],
  CASE WHEN json_type(u.prev, '$.created_on') IS NOT NULL THEN json_extract(u.prev, '$.created_on') ELSE t.[created_on] END AS [created_on],
  CASE WHEN json_type(u.prev, '$.updated_on') IS NOT NULL THEN json_extract(u.prev, '$.updated_on') ELSE t.[updated_on] END AS [updated_on],
  CASE WHEN json_type(u.prev, '$.edited_on') IS NOT NULL THEN json_extract(u.prev, '$.edited_on') ELSE t.[edited_on] END AS [edited_on],
  CASE WHEN json_type(u.prev, '$.content_updated_on') IS NOT NULL THEN json_extract(u.prev, '$.content_updated_on') ELSE t.[content_updated_on] END AS [content_updated_on],
  CASE WHEN json_type(u.prev, '$.origin') IS NOT NULL THEN json_extract(u.prev, '$.origin') ELSE t.[origin] END AS [origin],
  CASE WHEN json_type(u.prev, '$.deleted_at') IS NOT NULL THEN json_extract(u.prev, '$.deleted_at') ELSE t.[deleted_at] END AS [deleted_at]
FROM [issues] t LEFT JOIN prev u ON u.row_id = t.[id]
WHERE NOT EXISTS (
    SELECT 1 FROM [row_versions_stored] i WHERE i.table_name = 'issues' AND i.row_id = t.[id]
      AND i.kind = 'insert' AND i.observed_at > :date
  )
  AND NOT coalesce(coalesce(t.[updated_on], t.[created_on], t.[synced_at]) > :date AND t.[synced_at] > (SELECT [began] FROM [_history_meta] WHERE [id] = 1) AND NOT EXISTS (SELECT 1 FROM [_history_prunes] x WHERE t.[synced_at] < x.[pruned_at] AND coalesce(t.[updated_on], t.[created_on], t.[synced_at]) < x.[cutoff]) AND NOT EXISTS (SELECT 1 FROM [row_versions_stored] k WHERE k.[table_name] = 'issues' AND k.[row_id] = t.[id]), 0)
  AND (coalesce(:repository_id, '') = '' OR t.[repository_id] = :repository_id)
) WHERE [deleted_at] IS NULL
