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

- ``synced_at`` records when a row's current content was written: an identical re-sync is not
  a write (that is what makes ``write`` cheap and its counts meaningful), so it keeps its time.
- ``write`` on a merge table (``users``) keeps stored values where the incoming row has NULL,
  and merges ``json`` with SQLite's ``json_patch`` (incoming keys win, stored extra keys stay):
  a condensed user reference never erases a full profile.
- Opening refuses an existing SQLite file that holds tables but no ``_migrations``: it is
  somebody else's database, and bbmirror will not add forty tables to it.
- Read-only and unwritable paths are judged by permission bits as well as ``os.access``, so a
  ``chmod a-w`` file is treated as read-only even for root.
- ``start_run`` drops option values whose key names a credential (token, password, secret...);
  the store should never see one, and this keeps a careless caller from storing it.
- A ``Store`` object is for one thread at a time (it may move between threads).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from bbmirror.store.pidlock import PidLock
from bbmirror.store.rows import RowSet, to_utc
from bbmirror.store.schema import (
    AFTER_WRITE,
    MIRRORED,
    ON_CONFLICT,
    SCHEMA_VERSION,
    TABLES,
    StoreError,
    current_version,
    migrate,
)

SQLITE_HEADER = b"SQLite format 3\x00"
_FRAME = ("deleted_at", "synced_at")
_SECRET_WORDS = ("token", "password", "passwd", "secret", "credential", "authorization", "auth")


def now() -> str:
    """The current time in the store's timestamp format."""
    return to_utc(datetime.now(UTC)) or ""


@dataclass
class SyncState:
    """Where one stream of one scope stands: watermark (server time), resume URL, heads."""

    source: str
    scope: str
    stream: str
    watermark: str | None = None
    resume: str | None = None
    heads: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    updated_at: str | None = None


def _writable(path: Path) -> bool:
    """True when the path may be written: permitted, and not stripped of all write bits."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _is_secret(key: str) -> bool:
    """Keys like token, api_token, password, auth (but not author)."""
    lowered = key.lower().replace("-", "_")
    return any(lowered.endswith(word) or f"{word}_" in lowered for word in _SECRET_WORDS)


def _scrub(value: Any) -> Any:
    """Remove credential-looking keys and URL passwords from run options."""
    if isinstance(value, Mapping):
        return {k: ("[redacted]" if _is_secret(str(k)) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and "@" in value and "://" in value:
        return _strip_userinfo(value)
    return value


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Store:
    """A bbmirror database. Create it with ``Store.open``."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, readonly: bool) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self._depth = 0
        self._lock = PidLock(f"{path}.lock")
        self._upserts: dict[tuple, str] = {}

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
        existed = _check_path(p, readonly)
        if readonly:
            uri = f"file:{quote(str(p))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(
                p, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _check_contents(conn, p, readonly)
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
            raise StoreError(_explain(exc, p)) from None
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
            raise StoreError(_explain(exc, Path(self.path))) from None
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
                cols = self._data_columns(table)
                allowed = set(cols)
                params = []
                for row in rows:
                    if not row.keys() <= allowed:
                        extra = sorted(row.keys() - allowed)
                        raise ValueError(f"{table} has no column(s) {', '.join(extra)}")
                    params.append(tuple(row.get(c) for c in cols) + (stamp,))
                sql = self._upsert_sql(table, cols, table in merge)
                cursor = self.conn.executemany(sql, params)
                counts[table] = counts.get(table, 0) + cursor.rowcount
                if table in AFTER_WRITE:
                    written = json.dumps([row["id"] for row in rows])
                    self.conn.execute(AFTER_WRITE[table], (written,))
        return counts

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

    def tombstone(
        self, table: str, where: Mapping[str, Any], keep_ids: Iterable[str], when: str
    ) -> int:
        """Mark rows matching ``where`` whose id is not in ``keep_ids`` as deleted at ``when``."""
        self._data_columns(table)
        cond, args = self._where(table, where)
        with self.transaction():
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _bbm_keep (id TEXT PRIMARY KEY)")
            self.conn.execute("DELETE FROM temp._bbm_keep")
            self.conn.executemany(
                "INSERT OR IGNORE INTO temp._bbm_keep (id) VALUES (?)", ((i,) for i in keep_ids)
            )
            cursor = self.conn.execute(
                f"UPDATE [{table}] SET [deleted_at] = ? WHERE {cond} AND [deleted_at] IS NULL"
                " AND [id] NOT IN (SELECT id FROM temp._bbm_keep)",
                [to_utc(when), *args],
            )
            self.conn.execute("DELETE FROM temp._bbm_keep")
        return cursor.rowcount

    def tombstone_ids(self, table: str, ids: Iterable[str], when: str) -> int:
        """Mark the given rows as deleted at ``when`` (already-tombstoned rows keep their time)."""
        self._data_columns(table)
        stamp = to_utc(when)
        with self.transaction():
            cursor = self.conn.executemany(
                f"UPDATE [{table}] SET [deleted_at] = ? WHERE [id] = ? AND [deleted_at] IS NULL",
                ((stamp, i) for i in ids),
            )
        return cursor.rowcount

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

    def tombstone_unreachable(self, repository_id: str, heads: Iterable[str], when: str) -> int:
        """Tombstone a repository's commits that nothing reaches any more (after force-pushes).

        Roots are the given heads (branches and tags) plus the commits live pull requests
        point at: Bitbucket keeps those reachable even once their branch is gone. PR objects
        carry 12-character hashes, matched by prefix. Both joins are primary-key ranges (a
        commit's id is ``repo/hash``, its parents' ``repo/hash/...``; hashes are lowercase hex,
        so ``'g'`` ends a prefix and ``'0'`` follows ``'/'``): no scan per root or per step.
        """
        # The CTE sits inside the subquery: Python's sqlite3 reports rowcount -1 for a
        # statement that starts with WITH, even when it is an UPDATE.
        sql = """
            UPDATE commits SET deleted_at = :when
            WHERE repository_id = :repo AND deleted_at IS NULL
              AND hash NOT IN (
                WITH RECURSIVE
                  pr_roots(short) AS (
                    SELECT source_commit FROM pullrequests
                    WHERE repository_id = :repo AND deleted_at IS NULL
                    UNION SELECT destination_commit FROM pullrequests
                    WHERE repository_id = :repo AND deleted_at IS NULL
                    UNION SELECT merge_commit FROM pullrequests
                    WHERE repository_id = :repo AND deleted_at IS NULL
                  ),
                  reach(hash) AS (
                    SELECT value FROM json_each(:heads)
                    UNION
                    SELECT c.hash FROM pr_roots r JOIN commits c
                      ON c.id >= :repo || '/' || r.short AND c.id < :repo || '/' || r.short || 'g'
                    UNION
                    SELECT p.parent_hash FROM reach r JOIN commit_parents p
                      ON p.id >= :repo || '/' || r.hash || '/'
                      AND p.id < :repo || '/' || r.hash || '0'
                  )
                SELECT hash FROM reach
              )"""
        args = {
            "when": to_utc(when),
            "repo": repository_id,
            "heads": json.dumps(sorted(set(heads))),
        }
        with self.transaction():
            return self.conn.execute(sql, args).rowcount

    def tombstone_children(
        self,
        table: str,
        column: str,
        parent_table: str,
        when: str,
        repository_id: str | None = None,
    ) -> int:
        """Tombstone live rows whose parent (``column`` → ``parent_table``) is tombstoned,
        in one repository when ``repository_id`` is given (both tables must have the column)."""
        for name, col in ((table, column), (parent_table, "id")):
            if col not in TABLES[name].column_names:
                raise ValueError(f"{name} has no column {col!r}")
        scope, args = "", [to_utc(when)]
        if repository_id is not None:
            scope = " AND [repository_id] = ?"
            args = [args[0], repository_id, repository_id]
        sql = (
            f"UPDATE [{table}] SET [deleted_at] = ? WHERE [deleted_at] IS NULL{scope}"
            f" AND [{column}] IN (SELECT [id] FROM [{parent_table}]"
            f" WHERE [deleted_at] IS NOT NULL{scope})"
        )
        with self.transaction():
            return self.conn.execute(sql, args).rowcount

    def vacuum(self) -> None:
        """VACUUM, then rebuild full-text indexes (VACUUM may renumber the rowids they use)."""
        self.conn.execute("VACUUM")
        for table in TABLES.values():
            if table.fts:
                fts = f"{table.name}_fts"
                self.conn.execute(f"INSERT INTO [{fts}] ([{fts}]) VALUES ('rebuild')")

    # -- sources, sync state, run log ---------------------------------------------------

    def put_source(self, name: str, kind: str, base_url: str | None) -> None:
        """Record a configured Bitbucket instance (any user:password in the URL is dropped)."""
        url = _strip_userinfo(base_url) if base_url else None
        stamp = now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO sources (id, kind, base_url, added_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET kind = excluded.kind,"
                " base_url = excluded.base_url, updated_at = excluded.updated_at",
                (name, kind, url, stamp, stamp),
            )

    def get_state(self, source: str, scope: str, stream: str) -> SyncState | None:
        row = self.conn.execute(
            "SELECT watermark, resume, heads, extra, updated_at FROM sync_state"
            " WHERE source = ? AND scope = ? AND stream = ?",
            (source, scope, stream),
        ).fetchone()
        if row is None:
            return None
        return SyncState(
            source,
            scope,
            stream,
            watermark=row[0],
            resume=row[1],
            heads=json.loads(row[2]) if row[2] else {},
            extra=json.loads(row[3]) if row[3] else {},
            updated_at=row[4],
        )

    def put_state(self, state: SyncState) -> None:
        """Save a stream's checkpoint; ``updated_at`` is set to now (local bookkeeping time)."""
        state.updated_at = now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO sync_state"
                " (source, scope, stream, watermark, resume, heads, extra, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, scope, stream) DO UPDATE"
                " SET watermark = excluded.watermark, resume = excluded.resume,"
                " heads = excluded.heads, extra = excluded.extra, updated_at = excluded.updated_at",
                (
                    state.source,
                    state.scope,
                    state.stream,
                    state.watermark,
                    state.resume,
                    json.dumps(state.heads, sort_keys=True),
                    json.dumps(state.extra, sort_keys=True),
                    state.updated_at,
                ),
            )

    def start_run(self, source: str, options: Mapping[str, Any]) -> int:
        """Log the start of a sync run; return its id."""
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO sync_runs (source, started_at, outcome, options, pid)"
                " VALUES (?, ?, 'running', ?, ?)",
                (source, now(), json.dumps(_scrub(options), default=str), os.getpid()),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        rows: Mapping[str, int],
        requests: int,
        errors: int,
        message: str | None,
    ) -> None:
        """Log how a run ended: outcome (e.g. ok/partial/failed), rows per table, counts."""
        with self.transaction():
            self.conn.execute(
                "UPDATE sync_runs SET finished_at = ?, outcome = ?, rows = ?, requests = ?,"
                " errors = ?, message = ? WHERE id = ?",
                (now(), outcome, json.dumps(dict(rows)), requests, errors, message, run_id),
            )

    def record_error(
        self, run_id: int | None, source: str, stream: str, reason: str, payload: str
    ) -> int:
        """Quarantine one bad record: why it failed and what it was. Returns the error id."""
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO sync_errors (run_id, source, stream, reason, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, source, stream, reason, payload, now()),
            )
        return int(cursor.lastrowid or 0)

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

    def release_writer_lock(self) -> None:
        self._lock.release()


def _check_path(p: Path, readonly: bool) -> bool:
    """Refuse paths that cannot hold a database, before anything touches them; True if exists."""
    if p.is_dir():
        raise StoreError(f"{p} is a directory; give a database file name, e.g. {p}/bbmirror.db")
    parent = p.parent
    if not parent.is_dir():
        raise StoreError(f"cannot open {p}: directory {parent} does not exist; create it first")
    if not p.exists():
        if readonly:
            raise StoreError(f"{p} does not exist; run a sync to create it first")
        if not _writable(parent):
            raise StoreError(f"cannot create {p}: directory {parent} is not writable")
        return False
    try:
        with p.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read {p}: {exc.strerror}") from None
    if header and header != SQLITE_HEADER:
        raise StoreError(f"{p} is not a SQLite database; point bbmirror at a bbmirror database")
    if not readonly:
        if not _writable(p):
            raise StoreError(f"{p} is read-only; make it writable (chmod u+w) or open it read-only")
        if not _writable(parent):
            raise StoreError(
                f"directory {parent} is not writable (SQLite keeps -wal/-shm files there);"
                " make it writable or open the database read-only"
            )
    return True


def _check_contents(conn: sqlite3.Connection, p: Path, readonly: bool) -> None:
    """Read-only checks: a bbmirror database (or an empty file), not newer than this code."""
    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    version = current_version(conn)
    if tables and not version:
        raise StoreError(
            "it is a SQLite database but not a bbmirror one (no _migrations table);"
            " choose another file"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"schema version {version} is newer than this bbmirror understands"
            f" ({SCHEMA_VERSION}); upgrade bbmirror"
        )
    if readonly and version < SCHEMA_VERSION:
        raise StoreError(
            f"schema version {version} is older than this bbmirror needs ({SCHEMA_VERSION});"
            " open it read-write once (e.g. run a sync) to migrate it"
        )


def _explain(exc: sqlite3.Error, p: Path) -> str:
    """One line a user can act on, for the SQLite errors opening and writing can raise."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return f"{p} is locked by another process; wait for it to finish and try again"
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        return f"{p} is not a usable SQLite database (corrupt or not SQLite); choose another file"
    if "readonly" in text or "read-only" in text:
        return f"{p} cannot be written; check the permissions of the file and its directory"
    if "unable to open" in text:
        return f"cannot open {p}; check that its directory exists and is accessible"
    return f"cannot use {p}: {exc}"
