"""The ``repository_changes`` report's SQL: a repository's versions by index lookups.

The report once joined ``row_versions`` to the repository with an OR (the repository's own
row, the rows under its id, its comments), which no index serves: 992 s on ``medium``, and
1,314 s once ``row_versions`` became a view (``history_implicit``), whose arms SQLite cannot
filter by a joined table's column. So the SQL is generated per arm instead: the stored
versions by their primary key (``table_name IN (...)`` and a ``row_id`` range), then each
mirrored table's computed inserts by its ``id`` (and comments by ``repository_id``), each arm
with the view's own conditions (``history_implicit.insert_sql``). The ways a version belongs
to a repository are disjoint arms, so each (version, repository) pair comes out once, as the
OR join gave it.
"""

from __future__ import annotations

from bbmirror.store import history_implicit as hi
from bbmirror.store.tables import TABLES

# The repository's row and the rows under its id ('<id>/...'): one index range, then a filter.
_MINE = "{k} >= r.[id] AND {k} < r.[id] || '0' AND ({k} = r.[id] OR {k} > r.[id] || '/')"
_COLS = (
    "s.[table_name], s.[row_id], s.[seq], s.[run_id], s.[observed_at], s.[kind], s.[changed], NULL"
)


def _stored(match: str, tables: str) -> str:
    return (
        f"SELECT {_COLS} FROM repo r JOIN [{hi.STORED}] s ON s.[table_name] IN ({tables})"
        f" AND {match.format(k='s.[row_id]')} WHERE s.[seq] > 0"
    )


def _computed(table: str, match: str) -> str:
    """The inserts the view computes for ``table``'s rows that ``match`` the repository."""
    return hi.insert_sql(TABLES[table], within=("repo r", match.format(k="v.[id]")))


def versions_sql() -> str:
    """SELECT the ``row_versions`` rows of the repositories in CTE ``repo`` (one per pair)."""
    tables = hi.tables_at(None)
    names = ", ".join(f"'{t}'" for t in tables)
    neither = f"NOT ({_MINE})".format(k="c.[id]")
    arms = [
        _stored(_MINE, names),
        f"SELECT {_COLS} FROM repo r JOIN [comments] c ON c.[repository_id] = r.[id]"
        f" JOIN [{hi.STORED}] s ON s.[table_name] = 'comments' AND s.[row_id] = c.[id]"
        f" WHERE s.[seq] > 0 AND {neither}",
    ]
    for table in tables:
        arms.append(_computed(table, _MINE))
    comments = _computed("comments", "v.[repository_id] = r.[id]")  # (no {k} to fill)
    arms.append(comments + f" AND {neither.replace('c.[id]', 'v.[id]')}")
    return "\nUNION ALL\n".join(arms)


def report_sql() -> str:
    """The report's SELECT (parameters ``repository``, ``from``, ``to``)."""
    return f"""WITH repo AS (
  SELECT id FROM repositories WHERE id = :repository OR full_name = :repository
),
found (table_name, row_id, seq, run_id, observed_at, kind, changed, stamp) AS (
{versions_sql()}
)
SELECT v.observed_at, v.table_name, v.row_id,
  coalesce(p.title, i.title, b.name, t.name, substr(c.body, 1, 80)) AS label,
  v.kind, v.changed AS previous_values, {hi.run_of("v")} AS run_id
FROM found v
LEFT JOIN pullrequests p ON v.table_name = 'pullrequests' AND p.id = v.row_id
LEFT JOIN issues i ON v.table_name = 'issues' AND i.id = v.row_id
LEFT JOIN branches b ON v.table_name = 'branches' AND b.id = v.row_id
LEFT JOIN tags t ON v.table_name = 'tags' AND t.id = v.row_id
LEFT JOIN comments c ON v.table_name = 'comments' AND c.id = v.row_id
WHERE (coalesce(:from, '') = '' OR v.observed_at >= :from)
  AND (coalesce(:to, '') = '' OR v.observed_at < :to)
ORDER BY v.observed_at DESC, v.table_name, v.row_id, v.seq DESC"""
