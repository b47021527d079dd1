-- title: Branches as of a date
-- description: Every branches row as the mirror knew it at `date` (ISO-8601, e.g.
--   2026-11-01 or 2026-11-01T12:00), rebuilt from the current rows and their
--   versions (row_versions): rows first seen later or deleted by then are left out.
--   Changes are dated by the server's updated_on when it moved, else by the run that
--   saw them. `repository_id` (optional) narrows it to one repository.
-- params: date, repository_id

WITH prev AS (
  SELECT row_id, json_group_object(col, value) AS prev FROM (
    SELECT v.row_id, j.key AS col, j.value AS value, min(v.seq)
    FROM [row_versions_stored] v, json_each(v.changed) j
    WHERE v.table_name = 'branches' AND v.seq > 0 AND v.observed_at > :date
    GROUP BY v.row_id, j.key
  ) GROUP BY row_id
)
SELECT * FROM (
SELECT t.[id],
  CASE WHEN json_type(u.prev, '$.source') IS NOT NULL THEN json_extract(u.prev, '$.source') ELSE t.[source] END AS [source],
  CASE WHEN json_type(u.prev, '$.repository_id') IS NOT NULL THEN json_extract(u.prev, '$.repository_id') ELSE t.[repository_id] END AS [repository_id],
  CASE WHEN json_type(u.prev, '$.name') IS NOT NULL THEN json_extract(u.prev, '$.name') ELSE t.[name] END AS [name],
  CASE WHEN json_type(u.prev, '$.target_hash') IS NOT NULL THEN json_extract(u.prev, '$.target_hash') ELSE t.[target_hash] END AS [target_hash],
  CASE WHEN json_type(u.prev, '$.target_id') IS NOT NULL THEN json_extract(u.prev, '$.target_id') ELSE t.[target_id] END AS [target_id],
  CASE WHEN json_type(u.prev, '$.is_default') IS NOT NULL THEN json_extract(u.prev, '$.is_default') ELSE t.[is_default] END AS [is_default],
  CASE WHEN json_type(u.prev, '$.deleted_at') IS NOT NULL THEN json_extract(u.prev, '$.deleted_at') ELSE t.[deleted_at] END AS [deleted_at]
FROM [branches] t LEFT JOIN prev u ON u.row_id = t.[id]
WHERE NOT EXISTS (
    SELECT 1 FROM [row_versions_stored] i WHERE i.table_name = 'branches' AND i.row_id = t.[id]
      AND i.kind = 'insert' AND i.observed_at > :date
  )
  AND NOT coalesce(t.[synced_at] > :date AND t.[synced_at] > (SELECT [began] FROM [_history_meta] WHERE [id] = 1) AND NOT EXISTS (SELECT 1 FROM [_history_prunes] x WHERE t.[synced_at] < x.[pruned_at] AND t.[synced_at] < x.[cutoff]) AND NOT EXISTS (SELECT 1 FROM [row_versions_stored] k WHERE k.[table_name] = 'branches' AND k.[row_id] = t.[id]), 0)
  AND (coalesce(:repository_id, '') = '' OR t.[repository_id] = :repository_id)
) WHERE [deleted_at] IS NULL
