"""Insert versions that the row itself holds are not stored (schema 10, issue 14).

After a first sync nearly every version is an ``insert``, and an insert version of a row that
has not changed since holds nothing the row does not: its ``row_id`` is the row's id, its
``observed_at`` is the row's ``coalesce(updated_on, created_on, synced_at)`` and its run is the
run that was writing when ``synced_at`` was stamped. Storing them cost a tenth of a ``medium``
mirror (21 MB). So, from schema 10:

- The versions that are stored live in ``row_versions_stored`` (the schema 7 table, renamed).
  ``row_versions`` is a view with the same columns: the stored versions, plus one ``insert``
  per row that has none stored, computed from the row (``insert_sql``). Reports, the CLI and
  Datasette read it as before.
- No trigger runs on insert. The update trigger first freezes the insert the view showed
  (from the OLD row, ``seq`` 1) before the row changes it, then stores the change as before.
- ``_history_spans`` records when each run was writing (``set_run``): a computed insert's run
  is the span holding its ``synced_at`` (NULL outside a run, as the trigger stored it).
- ``_history_meta.began``: the latest ``synced_at`` of a row without stored versions when
  schema 10 arrived (a row mirrored before history began, which has no insert, as before;
  empty in a new file). Inserts are computed for rows written after it.
  A change to a row whose insert the view does not show (such a row, or a pruned one) that
  would make it show one stores a ``baseline`` marker (``seq`` 0, hidden by the view) instead.
- The view's arms are index-served and leave a computed insert's run to its outer SELECT
  (``view_sql``): ``count(*)`` and facets over it (Datasette's table page) skip that lookup.
- ``prune`` deletes stored versions and records the cut in ``_history_prunes``; a computed
  insert older than a cut, of a row written before it, is hidden as a stored one was deleted.
"""

from __future__ import annotations

from bbmirror.store.tables import MIRRORED, TABLES, Table

SINCE = 10
STORED = "row_versions_stored"
_COLUMNS = "table_name, row_id, seq, run_id, observed_at, kind, changed"


def observed(table: Table, row: str, version: int | None = None) -> str:
    """When an insert of ``row`` (NEW, OLD or an alias) is dated: as the schema 7 trigger did."""
    have = {c.name for c in table.all_columns if version is None or c.since <= version}
    server = [f"{row}.[{c}]" for c in ("updated_on", "created_on") if c in have]
    parts = [*server, f"{row}.[synced_at]"]
    return f"coalesce({', '.join(parts)})" if server else parts[0]


def run_at(stamp: str) -> str:
    """The run that was writing at ``stamp`` (NULL: no run)."""
    return (
        f"(SELECT s.[run_id] FROM [_history_spans] s WHERE s.[began] <= {stamp}"
        f" AND (s.[ended] IS NULL OR {stamp} <= s.[ended]) ORDER BY s.[began] DESC LIMIT 1)"
    )


def shown(table: Table, row: str, version: int | None = None) -> str:
    """Whether the view computes an insert for ``row`` (given none of its versions is stored)."""
    return (
        f"{row}.[synced_at] > (SELECT [began] FROM [_history_meta] WHERE [id] = 1)"
        f" AND NOT EXISTS (SELECT 1 FROM [_history_prunes] x WHERE {row}.[synced_at] <"
        f" x.[pruned_at] AND {observed(table, row, version)} < x.[cutoff])"
    )


def none_stored(table: str, row: str) -> str:
    """Whether no version of ``row`` (an alias of a row of ``table``) is stored."""
    return (
        f"NOT EXISTS (SELECT 1 FROM [{STORED}] k WHERE k.[table_name] = '{table}'"
        f" AND k.[row_id] = {row}.[id])"
    )


def _shown_fast(table: Table, row: str, version: int | None = None) -> str:
    """``shown``, skipping the per-row prune check while nothing was pruned."""
    return (
        f"{row}.[synced_at] > (SELECT [began] FROM [_history_meta] WHERE [id] = 1)"
        " AND (NOT EXISTS (SELECT 1 FROM [_history_prunes]) OR NOT EXISTS (SELECT 1 FROM"
        f" [_history_prunes] x WHERE {row}.[synced_at] < x.[pruned_at]"
        f" AND {observed(table, row, version)} < x.[cutoff]))"
    )


def insert_sql(
    table: Table, version: int | None = None, within: tuple[str, str] | None = None
) -> str:
    """The inserts the view computes for one table's rows (``within``: only those joining a
    FROM item on a condition). Its run is left NULL and its ``synced_at`` comes last, as
    ``stamp``: ``run_of`` finds the run only where a query reads it (a count does not)."""
    rows = (
        f"[{table.name}] v"
        if within is None
        else f"{within[0]} JOIN [{table.name}] v ON {within[1]}"
    )
    return (
        f"SELECT '{table.name}', v.[id], 1, NULL, {observed(table, 'v', version)}, 'insert', NULL,"
        f" v.[synced_at] FROM {rows} LEFT JOIN [{STORED}] k ON k.[table_name] = '{table.name}'"
        f" AND k.[row_id] = v.[id] WHERE k.[row_id] IS NULL AND {_shown_fast(table, 'v', version)}"
    )


def run_of(alias: str) -> str:
    """The ``run_id`` of a row of the view's arms: stored, or the run writing at ``stamp``."""
    stamp = f"{alias}.[stamp]"
    return f"CASE WHEN {stamp} IS NULL THEN {alias}.[run_id] ELSE {run_at(stamp)} END"


def tables_at(version: int | None) -> tuple[str, ...]:
    """The mirrored tables at schema ``version`` (None: now)."""
    return tuple(t for t in MIRRORED if version is None or TABLES[t].since <= version)


def view_sql(version: int | None = None) -> tuple[str, ...]:
    """DROP and CREATE the ``row_versions`` view: the stored versions and computed inserts.

    Each arm is index-served (the stored table's key, the anti-join on it, the prune check
    skipped while nothing was pruned); the run of a computed insert (a correlated lookup, most
    of an arm's cost) is found in the outer SELECT, which SQLite flattens into the query, so
    ``count(*)`` and facets over the view never compute it."""
    arms = [f"SELECT {_COLUMNS}, NULL AS [stamp] FROM [{STORED}] WHERE [seq] > 0"]
    arms += [insert_sql(TABLES[name], version) for name in tables_at(version)]
    union = "\nUNION ALL\n".join(arms)
    return (
        "DROP VIEW IF EXISTS [row_versions]",
        "CREATE VIEW [row_versions] AS SELECT a.[table_name], a.[row_id], a.[seq],"
        f" {run_of('a')} AS [run_id], a.[observed_at], a.[kind], a.[changed]"
        f" FROM (\n{union}\n) a",
    )


def freeze_sql(table: Table, differs: str, version: int | None = None) -> str:
    """The update trigger's first statement: store the insert the view showed for OLD (or a
    ``baseline`` when it showed none and the change versions nothing, so it never will)."""
    show = shown(table, "OLD", version)
    return f"""INSERT INTO [{STORED}] ({_COLUMNS})
  SELECT '{table.name}', OLD.[id], CASE WHEN {show} THEN 1 ELSE 0 END,
    CASE WHEN {show} THEN {run_at("OLD.[synced_at]")} END,
    CASE WHEN {show} THEN {observed(table, "OLD", version)} END,
    CASE WHEN {show} THEN 'insert' ELSE 'baseline' END, NULL
  WHERE {none_stored(table.name, "OLD")} AND (({show}) OR NOT ({differs}))"""


def _began(tables: tuple[str, ...]) -> str:
    """The latest ``synced_at`` of a row none of whose versions is stored ('' if none)."""
    latest = " UNION ALL ".join(
        f"SELECT max(v.[synced_at]) AS m FROM [{t}] v WHERE {none_stored(t, 'v')}" for t in tables
    )
    return f"coalesce((SELECT max(m) FROM ({latest})), '')"


def migration_sql() -> tuple[str, ...]:
    """Schema 10's tables, on a database whose history (schema 7 to 9) stores every version."""
    tables = tables_at(SINCE)
    return (
        f"ALTER TABLE [row_versions] RENAME TO [{STORED}]",
        "CREATE TABLE [_history_meta] ([id] INTEGER PRIMARY KEY CHECK ([id] = 1),"
        " [began] TEXT NOT NULL)",
        f"INSERT INTO [_history_meta] ([id], [began]) VALUES (1, {_began(tables)})",
        "CREATE TABLE [_history_spans] ([run_id] INTEGER PRIMARY KEY, [began] TEXT NOT NULL,"
        " [ended] TEXT)",
        "CREATE TABLE [_history_prunes] ([pruned_at] TEXT NOT NULL, [cutoff] TEXT NOT NULL)",
    )


def prune_sql() -> tuple[str, ...]:
    """``prune``'s statements; parameters: the cutoff (ISO text), and the time for the last."""
    return (
        # rows losing every stored version keep a marker, so that no insert is computed
        f"INSERT INTO [{STORED}] ({_COLUMNS})"
        f" SELECT [table_name], [row_id], 0, NULL, NULL, 'baseline', NULL FROM [{STORED}]"
        " GROUP BY [table_name], [row_id] HAVING min([seq]) > 0 AND max([observed_at]) < ?",
        f"DELETE FROM [{STORED}] WHERE [observed_at] < ?",
        "INSERT INTO [_history_prunes] ([cutoff], [pruned_at]) VALUES (?, ?)",
    )
