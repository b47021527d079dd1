"""Local history: every change of a mirrored row kept as a version (issue 16).

How: one ``AFTER INSERT`` and one ``AFTER UPDATE`` trigger per mirrored table write a row to
``row_versions`` in the same statement, so in the same transaction, as the change. Every writer
is covered (``Store.write``'s upsert, tombstones, the ``closed_on`` derivation, archive imports)
and an unchanged row, which the upsert does not touch, writes nothing.

Choices where the brief is silent:

- ``changed`` is a JSON object of the changed columns and their PREVIOUS values; an insert
  stores NULL. A row's states are rebuilt backwards from its current values (``states``).
- Versioned: every flattened column and ``deleted_at``. Not versioned: ``json`` (most of the
  database's bytes; its history would double the file, and users ask about columns, which are
  the flattened fields of that very object), ``synced_at`` (bookkeeping) and BLOB columns
  (attachment bytes; JSON cannot hold them). A change of ``json`` alone writes nothing.
- ``observed_at``: a tombstone's time for a tombstone; the row's ``updated_on`` (server time)
  where the table has one and the change set or moved it (an insert without one: its
  ``created_on``, so an imported change log and a synced one are dated alike); else
  ``synced_at`` (the write's time): a fetched change that left ``updated_on`` alone (a count
  the server does not date) happened after that ``updated_on``, so dating it there would be
  early. A derived change (``closed_on`` from activity, which keeps ``synced_at``) is dated
  by the row's ``updated_on``: it describes the state that time dates.
- ``kind``: insert, update, tombstone (``deleted_at`` set), revive (``deleted_at`` cleared).
- ``run_id``: the run in progress (``_history_run``, set by ``start_run``, cleared by
  ``finish_run`` and when a writer takes the lock); NULL for writes outside a run (imports).
- Rows mirrored before history began have no insert version: ``as of`` counts them as present.
- From schema 10 (``history_implicit``) an insert version is computed from its row until the
  row changes, not stored: ``row_versions`` is a view; ``row_versions_stored`` holds the rest.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bbmirror.store import history_implicit
from bbmirror.store.runlog import now
from bbmirror.store.tables import MIRRORED, TABLES, Table

SINCE = 7  # the schema version that introduced history
_UNVERSIONED = {"id", "json", "synced_at"}


def columns(table: str | Table, version: int | None = None) -> tuple[str, ...]:
    """The versioned columns of a mirrored table (at schema ``version``, default current)."""
    t = TABLES[table] if isinstance(table, str) else table
    return tuple(
        c.name
        for c in t.all_columns
        if c.name not in _UNVERSIONED
        and c.type != "BLOB"
        and (version is None or c.since <= version or c.name == "deleted_at")
    )


def _observed(table: Table, version: int | None, *, update: bool) -> str:
    """A change's time: the server's ``updated_on`` when the change moved it (an insert: its
    ``updated_on``, else its ``created_on``), else the write's."""
    have = {c.name for c in table.all_columns if version is None or c.since <= version}
    if update:
        if "updated_on" not in have:
            return "NEW.[synced_at]"
        # A change that kept synced_at was derived from stored data (closed_on from activity),
        # not fetched: it belongs to the state the row's updated_on dates.
        return (
            "CASE WHEN NEW.[updated_on] IS NOT NULL AND (NEW.[updated_on] IS NOT OLD.[updated_on]"
            " OR NEW.[synced_at] IS OLD.[synced_at]) THEN NEW.[updated_on] ELSE NEW.[synced_at] END"
        )
    server = [f"NEW.[{c}]" for c in ("updated_on", "created_on") if c in have]
    return f"coalesce({', '.join([*server, 'NEW.[synced_at]'])})" if server else "NEW.[synced_at]"


def trigger_sql(declared: str | Table, version: int | None = None) -> tuple[str, ...]:
    """DROP and CREATE the history triggers of a table (its columns as of ``version``): from
    schema 10 (``history_implicit``) one update trigger; before it, an insert one too."""
    t = TABLES[declared] if isinstance(declared, str) else declared
    table = t.name
    implicit = version is None or version >= history_implicit.SINCE
    target = history_implicit.STORED if implicit else "row_versions"
    cols = columns(t, version)
    seen = _observed(t, version, update=False)
    seen_update = _observed(t, version, update=True)
    insert = f"INSERT INTO [{target}] (table_name, row_id, seq, run_id, observed_at, kind,"
    insert += " changed)"
    seq = (
        f"coalesce((SELECT max(seq) FROM [{target}] WHERE table_name = '{table}'"
        " AND row_id = NEW.[id]), 0) + 1"
    )
    run = "(SELECT [run_id] FROM [_history_run] WHERE [id] = 1)"
    # '{' + ',"col":<old value as JSON>' for each changed column, minus the first comma, + '}':
    # text concatenation costs less than building every column's object and removing most.
    pieces = " || ".join(
        f"CASE WHEN OLD.[{c}] IS NOT NEW.[{c}] THEN ',\"{c}\":' || json_quote(OLD.[{c}])"
        " ELSE '' END"
        for c in cols
    )
    previous = f"'{{' || substr({pieces}, 2) || '}}'"
    differs = " OR ".join(f"OLD.[{c}] IS NOT NEW.[{c}]" for c in cols)
    gone = "OLD.[deleted_at] IS NULL AND NEW.[deleted_at] IS NOT NULL"
    back = "OLD.[deleted_at] IS NOT NULL AND NEW.[deleted_at] IS NULL"
    values = f"""'{table}', NEW.[id], {seq}, {run},
    CASE WHEN {gone} THEN NEW.[deleted_at] ELSE {seen_update} END,
    CASE WHEN {gone} THEN 'tombstone' WHEN {back} THEN 'revive' ELSE 'update' END,
    {previous}"""
    drops = (
        f"DROP TRIGGER IF EXISTS [history_insert_{table}]",
        f"DROP TRIGGER IF EXISTS [history_update_{table}]",
    )
    if implicit:
        return drops + (
            f"""CREATE TRIGGER [history_update_{table}] AFTER UPDATE ON [{table}]
WHEN {differs} OR OLD.[synced_at] IS NOT NEW.[synced_at]
BEGIN
  {history_implicit.freeze_sql(t, differs, version)};
  {insert}
  SELECT {values}
  WHERE {differs};
END""",
        )
    return drops + (
        f"""CREATE TRIGGER [history_insert_{table}] AFTER INSERT ON [{table}]
BEGIN
  {insert}
  VALUES ('{table}', NEW.[id], {seq}, {run}, {seen}, 'insert', NULL);
END""",
        f"""CREATE TRIGGER [history_update_{table}] AFTER UPDATE ON [{table}]
WHEN {differs}
BEGIN
  {insert}
  VALUES ({values});
END""",
    )


def all_triggers(version: int | None = None) -> tuple[str, ...]:
    """The history triggers of every mirrored table that exists at ``version``."""
    return tuple(
        sql
        for table in MIRRORED
        if version is None or TABLES[table].since <= version
        for sql in trigger_sql(table, version)
    )


# WITHOUT ROWID, keyed by the row: one b-tree, no index repeating the key (a third of the
# bytes of a rowid table with an index on it). Hand-written: sqlite-utils cannot create one.
TABLE_SQL: tuple[str, ...] = (
    """CREATE TABLE [row_versions] (
  [table_name] TEXT NOT NULL,
  [row_id] TEXT NOT NULL,
  [seq] INTEGER NOT NULL,
  [run_id] INTEGER REFERENCES [sync_runs]([id]),
  [observed_at] TEXT,
  [kind] TEXT NOT NULL,
  [changed] TEXT,
  PRIMARY KEY ([table_name], [row_id], [seq])
) WITHOUT ROWID""",
    "CREATE TABLE [_history_run] ([id] INTEGER PRIMARY KEY CHECK ([id] = 1), [run_id] INTEGER)",
)
MIGRATION_SQL: tuple[str, ...] = TABLE_SQL + all_triggers(SINCE)
# Schema 10: inserts computed, not stored (``history_implicit``).
IMPLICIT_SQL: tuple[str, ...] = (
    history_implicit.migration_sql()
    + all_triggers(history_implicit.SINCE)
    + history_implicit.view_sql(history_implicit.SINCE)
)


# -- the run in progress ---------------------------------------------------------------------


def set_run(conn: sqlite3.Connection, run_id: int | None) -> None:
    """Name the run whose writes follow (None: writes outside a run), and note when it began
    and ended (``_history_spans``: the run of an insert the ``row_versions`` view computes)."""
    stamp = now()
    conn.execute("UPDATE [_history_spans] SET [ended] = ? WHERE [ended] IS NULL", (stamp,))
    if run_id is None:
        conn.execute("DELETE FROM [_history_run]")
    else:
        conn.execute("INSERT OR REPLACE INTO [_history_run] (id, run_id) VALUES (1, ?)", (run_id,))
        conn.execute(
            "INSERT OR REPLACE INTO [_history_spans] ([run_id], [began]) VALUES (?, ?)",
            (run_id, stamp),
        )


class HistoryRuns:
    """``start_run``/``finish_run`` that also tell the history triggers which run is writing."""

    conn: sqlite3.Connection

    if TYPE_CHECKING:  # provided by Store / RunLog

        def transaction(self) -> AbstractContextManager[None]: ...

    def start_run(self, source: str, options: Any) -> int:
        with self.transaction():
            run_id = super().start_run(source, options)  # type: ignore[misc]
            set_run(self.conn, run_id)
        return run_id

    def finish_run(self, run_id: int, *args: Any, **kwargs: Any) -> None:
        with self.transaction():
            super().finish_run(run_id, *args, **kwargs)  # type: ignore[misc]
            set_run(self.conn, None)


# -- reading history -------------------------------------------------------------------------


def versions(conn: sqlite3.Connection, table: str, row_id: str) -> list[dict[str, Any]]:
    """A row's versions, oldest first, with ``changed`` decoded."""
    cursor = conn.execute(
        "SELECT seq, run_id, observed_at, kind, changed FROM row_versions"
        " WHERE table_name = ? AND row_id = ? ORDER BY seq",
        (table, row_id),
    )
    return [
        {
            "version": v,
            "run_id": run,
            "observed_at": seen,
            "kind": kind,
            "changed": json.loads(changed) if changed else {},
        }
        for v, run, seen, kind, changed in cursor
    ]


def current(conn: sqlite3.Connection, table: str, row_id: str) -> dict[str, Any] | None:
    """The row's versioned columns as stored now."""
    cols = columns(table)
    picked = ", ".join(f"[{c}]" for c in cols)
    row = conn.execute(f"SELECT {picked} FROM [{table}] WHERE id = ?", (row_id,)).fetchone()
    return dict(zip(cols, row, strict=True)) if row else None


def states(conn: sqlite3.Connection, table: str, row_id: str) -> list[dict[str, Any]]:
    """The row's state after each of its versions, oldest first, rebuilt from the current row.

    Each item is the version (``version``, ``run_id``, ``observed_at``, ``kind``, ``changed``)
    plus ``state``: the versioned columns right after that version.
    """
    if table not in MIRRORED:
        raise ValueError(f"{table!r} is not a mirrored table")
    found = versions(conn, table, row_id)
    state = current(conn, table, row_id)
    if state is None:
        return []
    out = []
    for v in reversed(found):
        out.append({**v, "state": dict(state)})
        state.update(v["changed"])
    return out[::-1]


def since(
    conn: sqlite3.Connection, moment: str, table: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every version observed at or after ``moment`` (ISO text), oldest first."""
    sql = (
        "SELECT seq, table_name, row_id, run_id, observed_at, kind, changed FROM row_versions"
        " WHERE observed_at >= ?"
    )
    args: list[Any] = [moment]
    if table:
        sql += " AND table_name = ?"
        args.append(table)
    for v, name, key, run, seen, kind, changed in conn.execute(
        sql + " ORDER BY observed_at, table_name, row_id, seq", args
    ):
        yield {
            "version": v,
            "table": name,
            "row_id": key,
            "run_id": run,
            "observed_at": seen,
            "kind": kind,
            "changed": json.loads(changed) if changed else {},
        }


def prune(conn: sqlite3.Connection, days: float, *, today: datetime | None = None) -> int:
    """Delete versions observed more than ``days`` days ago; return how many went."""
    cutoff = (today or datetime.now(UTC)) - timedelta(days=days)
    stamp = cutoff.isoformat(timespec="microseconds")
    (gone,) = conn.execute(
        "SELECT count(*) FROM row_versions WHERE observed_at < ?", (stamp,)
    ).fetchone()
    keep, delete, note = history_implicit.prune_sql()
    conn.execute(keep, (stamp,))
    conn.execute(delete, (stamp,))
    conn.execute(note, (stamp, now()))
    return gone


# -- as of a moment ----------------------------------------------------------------------------


def as_of_sql(table: str) -> str:
    """SELECT the rows of ``table`` as they were at ``:date`` (``:repository_id`` optional).

    A column's value at D is the previous value stored by the earliest version observed after
    D that changed it, or the current value when none did. Rows first seen after D, and rows
    tombstoned at D, are left out. (``value`` beside ``min(v.seq)`` is the earliest version's:
    SQLite gives a bare column the values of the row a lone min() picked.) It reads what the
    ``row_versions`` view would give, but from the stored versions and the row itself (a
    computed insert changes nothing and is the row's own): each lookup an index serves.
    """
    cols = columns(table)
    picked = ",\n  ".join(
        f"CASE WHEN json_type(u.prev, '$.{c}') IS NOT NULL THEN json_extract(u.prev, '$.{c}')"
        f" ELSE t.[{c}] END AS [{c}]"
        for c in cols
    )
    scope = (
        ("t.[id]" if table == "repositories" else "t.[repository_id]")
        if table == "repositories" or "repository_id" in TABLES[table].column_names
        else None
    )
    where = (
        f"\n  AND (coalesce(:repository_id, '') = '' OR {scope} = :repository_id)" if scope else ""
    )
    t = TABLES[table]
    stored = history_implicit.STORED
    computed = (  # the view's insert for t, computed (history_implicit.insert_sql), is after D
        f"{history_implicit.observed(t, 't')} > :date AND {history_implicit.shown(t, 't')}"
        f" AND {history_implicit.none_stored(table, 't')}"
    )
    return f"""WITH prev AS (
  SELECT row_id, json_group_object(col, value) AS prev FROM (
    SELECT v.row_id, j.key AS col, j.value AS value, min(v.seq)
    FROM [{stored}] v, json_each(v.changed) j
    WHERE v.table_name = '{table}' AND v.seq > 0 AND v.observed_at > :date
    GROUP BY v.row_id, j.key
  ) GROUP BY row_id
)
SELECT * FROM (
SELECT t.[id],
  {picked}
FROM [{table}] t LEFT JOIN prev u ON u.row_id = t.[id]
WHERE NOT EXISTS (
    SELECT 1 FROM [{stored}] i WHERE i.table_name = '{table}' AND i.row_id = t.[id]
      AND i.kind = 'insert' AND i.observed_at > :date
  )
  AND NOT coalesce({computed}, 0){where}
) WHERE [deleted_at] IS NULL"""
