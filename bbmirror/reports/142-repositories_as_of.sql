-- title: Repositories as of a date
-- description: Every repositories row as the mirror knew it at `date` (ISO-8601, e.g.
--   2026-11-01 or 2026-11-01T12:00), rebuilt from the current rows and their
--   versions (row_versions): rows first seen later or deleted by then are left out.
--   Changes are dated by the server's updated_on when it moved, else by the run that
--   saw them. `repository_id` (optional) narrows it to one repository.
-- params: date, repository_id

WITH prev AS (
  SELECT row_id, json_group_object(col, value) AS prev FROM (
    SELECT v.row_id, j.key AS col, j.value AS value, min(v.seq)
    FROM [row_versions_stored] v, json_each(v.changed) j
    WHERE v.table_name = 'repositories' AND v.seq > 0 AND v.observed_at > :date
    GROUP BY v.row_id, j.key
  ) GROUP BY row_id
)
SELECT * FROM (
SELECT t.[id],
  CASE WHEN json_type(u.prev, '$.source') IS NOT NULL THEN json_extract(u.prev, '$.source') ELSE t.[source] END AS [source],
  CASE WHEN json_type(u.prev, '$.workspace_id') IS NOT NULL THEN json_extract(u.prev, '$.workspace_id') ELSE t.[workspace_id] END AS [workspace_id],
  CASE WHEN json_type(u.prev, '$.project_id') IS NOT NULL THEN json_extract(u.prev, '$.project_id') ELSE t.[project_id] END AS [project_id],
  CASE WHEN json_type(u.prev, '$.owner_id') IS NOT NULL THEN json_extract(u.prev, '$.owner_id') ELSE t.[owner_id] END AS [owner_id],
  CASE WHEN json_type(u.prev, '$.parent_id') IS NOT NULL THEN json_extract(u.prev, '$.parent_id') ELSE t.[parent_id] END AS [parent_id],
  CASE WHEN json_type(u.prev, '$.slug') IS NOT NULL THEN json_extract(u.prev, '$.slug') ELSE t.[slug] END AS [slug],
  CASE WHEN json_type(u.prev, '$.full_name') IS NOT NULL THEN json_extract(u.prev, '$.full_name') ELSE t.[full_name] END AS [full_name],
  CASE WHEN json_type(u.prev, '$.name') IS NOT NULL THEN json_extract(u.prev, '$.name') ELSE t.[name] END AS [name],
  CASE WHEN json_type(u.prev, '$.description') IS NOT NULL THEN json_extract(u.prev, '$.description') ELSE t.[description] END AS [description],
  CASE WHEN json_type(u.prev, '$.scm') IS NOT NULL THEN json_extract(u.prev, '$.scm') ELSE t.[scm] END AS [scm],
  CASE WHEN json_type(u.prev, '$.is_private') IS NOT NULL THEN json_extract(u.prev, '$.is_private') ELSE t.[is_private] END AS [is_private],
  CASE WHEN json_type(u.prev, '$.has_issues') IS NOT NULL THEN json_extract(u.prev, '$.has_issues') ELSE t.[has_issues] END AS [has_issues],
  CASE WHEN json_type(u.prev, '$.has_wiki') IS NOT NULL THEN json_extract(u.prev, '$.has_wiki') ELSE t.[has_wiki] END AS [has_wiki],
  CASE WHEN json_type(u.prev, '$.fork_policy') IS NOT NULL THEN json_extract(u.prev, '$.fork_policy') ELSE t.[fork_policy] END AS [fork_policy],
  CASE WHEN json_type(u.prev, '$.language') IS NOT NULL THEN json_extract(u.prev, '$.language') ELSE t.[language] END AS [language],
  CASE WHEN json_type(u.prev, '$.size') IS NOT NULL THEN json_extract(u.prev, '$.size') ELSE t.[size] END AS [size],
  CASE WHEN json_type(u.prev, '$.mainbranch') IS NOT NULL THEN json_extract(u.prev, '$.mainbranch') ELSE t.[mainbranch] END AS [mainbranch],
  CASE WHEN json_type(u.prev, '$.website') IS NOT NULL THEN json_extract(u.prev, '$.website') ELSE t.[website] END AS [website],
  CASE WHEN json_type(u.prev, '$.created_on') IS NOT NULL THEN json_extract(u.prev, '$.created_on') ELSE t.[created_on] END AS [created_on],
  CASE WHEN json_type(u.prev, '$.updated_on') IS NOT NULL THEN json_extract(u.prev, '$.updated_on') ELSE t.[updated_on] END AS [updated_on],
  CASE WHEN json_type(u.prev, '$.deleted_at') IS NOT NULL THEN json_extract(u.prev, '$.deleted_at') ELSE t.[deleted_at] END AS [deleted_at]
FROM [repositories] t LEFT JOIN prev u ON u.row_id = t.[id]
WHERE NOT EXISTS (
    SELECT 1 FROM [row_versions_stored] i WHERE i.table_name = 'repositories' AND i.row_id = t.[id]
      AND i.kind = 'insert' AND i.observed_at > :date
  )
  AND NOT coalesce(coalesce(t.[updated_on], t.[created_on], t.[synced_at]) > :date AND t.[synced_at] > (SELECT [began] FROM [_history_meta] WHERE [id] = 1) AND NOT EXISTS (SELECT 1 FROM [_history_prunes] x WHERE t.[synced_at] < x.[pruned_at] AND coalesce(t.[updated_on], t.[created_on], t.[synced_at]) < x.[cutoff]) AND NOT EXISTS (SELECT 1 FROM [row_versions_stored] k WHERE k.[table_name] = 'repositories' AND k.[row_id] = t.[id]), 0)
  AND (coalesce(:repository_id, '') = '' OR t.[id] = :repository_id)
) WHERE [deleted_at] IS NULL
