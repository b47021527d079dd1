"""The store: one SQLite file holding the mirror, its sync state, run log and errors.

Usage by the sync engine::

    with Store.open("mirror.db") as store:
        store.acquire_writer_lock()
        run = store.start_run("cloud", {"full": False})
        with store.transaction():          # a page's rows and its checkpoint, atomically
            store.write(rowset)
            store.put_state(state)
        store.finish_run(run, "ok", rows={...}, requests=12, errors=0, message=None)

Choices where the brief is silent:

- ``write`` is hand-written, not sqlite-utils' ``upsert_all``: one cached
  ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <something changed>`` per table, so an identical
  row is not rewritten (its ``synced_at`` and FTS entry stay), a tombstone is lifted, merge
  tables keep stored values, and the counts are rows really changed.
- ``synced_at`` records when a row's current content was written: an identical re-sync is not
  a write (that is what makes ``write`` cheap and its counts meaningful), so it keeps its time.
- ``write`` on a merge table (``users``) keeps stored values where the incoming row has NULL,
  and merges ``json`` with SQLite's ``json_patch`` (incoming keys win, stored extra keys stay):
  a condensed user reference never erases a full profile.
- A ``Store`` object is for one thread at a time (it may move between threads).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bbmirror.rows import RowSet
from bbmirror.store.history import HistoryRuns, set_run
from bbmirror.store.opening import check_contents, check_path, explain
from bbmirror.store.pidlock import PidLock
from bbmirror.store.runlog import RunLog, SyncState, now
from bbmirror.store.schema import (
    AFTER_WRITE,
    MIRRORED,
    ON_CONFLICT,
    TABLES,
    StoreError,
    current_version,
    database,
    migrate,
)
from bbmirror.store.slim import relink, slim
from bbmirror.store.tombstones import Tombstones

__all__ = ["Store", "StoreError", "SyncState", "now"]

_FRAME = ("deleted_at", "synced_at")
# Rows of 1-4 KB (JSON) leave a fifth of 4 KB pages empty; 16 KB pages hold them with a tenth
# of the slack (a medium mirror: 27 MB less). Set on a new file; ``vacuum`` moves an old one.
PAGE_SIZE = 16384


class Store(HistoryRuns, Tombstones, RunLog):
    """A bbmirror database. Create it with ``Store.open``."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, readonly: bool) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self._depth = 0
        self._lock = PidLock(f"{path}.lock")
        self._upserts: dict[tuple, str] = {}
        self._cols: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}

    # -- opening and closing -------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, readonly: bool = False, busy_timeout: float = 5.0
    ) -> Store:
        """Open (or create) the database, in WAL mode, migrated to ``SCHEMA_VERSION``.

        Raises StoreError, without creating or changing any file, when the path cannot hold a
        database, the file is read-only or not a SQLite database, or another process locks it.
        """
        if str(path) == ":memory:":
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            migrate(conn)
            return cls(conn, ":memory:", readonly=False)
        p = Path(path).expanduser().absolute()
        existed = check_path(p, readonly)
        if readonly:
            uri = f"file:{quote(str(p))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(
                p, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            check_contents(conn, p, readonly)
            if not existed:
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                migrate(conn)
        except (sqlite3.Error, StoreError) as exc:
            conn.close()
            if not existed:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{p}{suffix}")
            if isinstance(exc, StoreError):
                raise StoreError(f"{p}: {exc}") from None
            raise StoreError(explain(exc, p)) from None
        return cls(conn, str(p), readonly=readonly)

    def close(self) -> None:
        """Release the writer lock (if held) and close the connection."""
        self.release_writer_lock()
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return current_version(self.conn)

    # -- transactions --------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite write transaction (BEGIN IMMEDIATE); nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only; open it read-write to change it")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(explain(exc, Path(self.path))) from None
        self._depth = 1
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    # -- rows ----------------------------------------------------------------------------

    def write(
        self,
        rowset: RowSet,
        *,
        merge_tables: Iterable[str] = ("users",),
        synced_at: str | None = None,
    ) -> dict[str, int]:
        """Upsert every row; return, per table, how many rows were inserted or really changed.

        Identical rows are not rewritten. A row that reappears loses its tombstone. A column
        missing from a row is NULL; in ``merge_tables`` a NULL incoming value keeps the stored
        one. ``synced_at`` defaults to now.
        """
        merge = set(merge_tables)
        stamp = synced_at or now()
        counts: dict[str, int] = {}
        with self.transaction():
            for table, rows in rowset.items():
                if not rows:
                    counts.setdefault(table, 0)
                    continue
                cols, allowed = self._columns(table)
                rows = slim(self.conn, table, rows)  # JSON without copies of its columns
                params = []
                for row in rows:
                    if not row.keys() <= allowed:
                        extra = sorted(row.keys() - allowed)
                        raise ValueError(f"{table} has no column(s) {', '.join(extra)}")
                    params.append((*map(row.get, cols), stamp))
                sql = self._upsert_sql(table, cols, table in merge)
                cursor = self.conn.executemany(sql, params)
                counts[table] = counts.get(table, 0) + cursor.rowcount
                relink(self.conn, table, rows)  # rows that copy these now refer to them
                if table in AFTER_WRITE:
                    written = json.dumps([row["id"] for row in rows])
                    self.conn.execute(AFTER_WRITE[table], (written,))
        return counts

    def _columns(self, table: str) -> tuple[tuple[str, ...], frozenset[str]]:
        """A table's data columns, in order and as a set, computed once per table."""
        found = self._cols.get(table)
        if found is None:
            cols = self._data_columns(table)
            found = self._cols[table] = (cols, frozenset(cols))
        return found

    def _data_columns(self, table: str) -> tuple[str, ...]:
        if table not in MIRRORED:
            raise ValueError(f"{table!r} is not a mirrored table")
        return tuple(c for c in TABLES[table].column_names if c not in _FRAME)

    def _upsert_sql(self, table: str, cols: tuple[str, ...], merge: bool) -> str:
        key = (table, cols, merge)
        cached = self._upserts.get(key)
        if cached:
            return cached
        t = f"[{table}]"
        overrides = ON_CONFLICT.get(table, {})
        new: dict[str, str] = {}
        for c in cols:
            if c == "id":
                continue
            if c in overrides:
                new[c] = overrides[c].format(t=t)
            elif merge and c == "json":
                new[c] = f"json_patch({t}.[json], excluded.[json])"
            elif merge:
                new[c] = f"COALESCE(excluded.[{c}], {t}.[{c}])"
            else:
                new[c] = f"excluded.[{c}]"
        names = ", ".join(f"[{c}]" for c in (*cols, "synced_at"))
        marks = ", ".join("?" for _ in range(len(cols) + 1))
        sets = ", ".join(f"[{c}] = {expr}" for c, expr in new.items())
        changed = " OR ".join(f"({expr}) IS NOT {t}.[{c}]" for c, expr in new.items())
        sql = (
            f"INSERT INTO {t} ({names}) VALUES ({marks}) ON CONFLICT([id]) DO UPDATE SET {sets},"
            f" [deleted_at] = NULL, [synced_at] = excluded.[synced_at]"
            f" WHERE {changed} OR {t}.[deleted_at] IS NOT NULL"
        )
        self._upserts[key] = sql
        return sql

    def _where(self, table: str, where: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        clauses, args = [], []
        known = set(TABLES[table].column_names)
        for col, value in (where or {}).items():
            if col not in known:
                raise ValueError(f"{table} has no column {col!r}")
            if value is None:
                clauses.append(f"[{col}] IS NULL")
            else:
                clauses.append(f"[{col}] = ?")
                args.append(value)
        return (" AND ".join(clauses) or "1"), args

    def ids(self, table: str, where: Mapping[str, Any] | None = None) -> set[str]:
        """Ids of the live (not tombstoned) rows matching ``where``."""
        self._data_columns(table)
        cond, args = self._where(table, where)
        sql = f"SELECT [id] FROM [{table}] WHERE {cond} AND [deleted_at] IS NULL"
        return {row[0] for row in self.conn.execute(sql, args)}

    def count(
        self, table: str, where: Mapping[str, Any] | None = None, *, include_deleted: bool = False
    ) -> int:
        """Number of rows matching ``where``; live rows only unless ``include_deleted``."""
        cond, args = self._where(table, where)
        if not include_deleted and TABLES[table].mirrored:
            cond += " AND [deleted_at] IS NULL"
        return self.conn.execute(f"SELECT count(*) FROM [{table}] WHERE {cond}", args).fetchone()[0]

    def current(self, table: str, ids: Iterable[str], columns: Iterable[str]) -> dict[str, tuple]:
        """Stored values of some columns (a parent's change markers) for live rows, by id."""
        columns = tuple(columns)
        for column in columns:
            if column not in TABLES[table].column_names:
                raise ValueError(f"{table} has no column {column!r}")
        picked = ", ".join(f"[{c}]" for c in columns)
        sql = (
            f"SELECT [id], {picked} FROM [{table}] WHERE [deleted_at] IS NULL"
            " AND [id] IN (SELECT value FROM json_each(?))"
        )
        rows = self.conn.execute(sql, (json.dumps(list(ids)),)).fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}

    def has_alive(self, table: str, where: Mapping[str, Any]) -> bool:
        """Whether any live row matches (e.g. stored comments of a PR that now says zero)."""
        cond, args = self._where(table, where)
        sql = f"SELECT 1 FROM [{table}] WHERE {cond} AND [deleted_at] IS NULL LIMIT 1"
        return self.conn.execute(sql, args).fetchone() is not None

    def vacuum(self) -> None:
        """VACUUM into ``PAGE_SIZE`` pages, then rebuild full-text indexes (rowids may move)."""
        (mode,) = self.conn.execute("PRAGMA journal_mode").fetchone()
        if mode == "wal":  # the page size of a WAL database changes only outside WAL
            self.conn.execute("PRAGMA journal_mode = DELETE")
        self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        self.conn.execute("VACUUM")
        if mode == "wal":
            self.conn.execute("PRAGMA journal_mode = WAL")
        db = database(self.conn)
        for table in TABLES.values():
            if table.fts:
                db.table(table.name).rebuild_fts()

    # -- the writer lock -----------------------------------------------------------------

    @property
    def lock_path(self) -> str:
        return f"{self.path}.lock"

    def acquire_writer_lock(self) -> None:
        """Become the one process writing this database, or raise StoreError naming the holder.

        An ``flock`` on ``<db>.lock``: the OS drops it when the holder dies, even by SIGKILL.
        """
        if self._lock.fd is not None or self.path == ":memory:":
            return
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only; open it read-write to sync")
        holder = self._lock.acquire()
        if holder is not None:
            raise StoreError(
                f"another bbmirror sync is writing to {self.path} (pid {holder});"
                " wait for it to finish, or stop that process"
            )
        with self.transaction():  # a run that died holding the lock is no longer writing
            set_run(self.conn, None)

    def release_writer_lock(self) -> None:
        self._lock.release()
