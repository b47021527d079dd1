"""What a database holds: for tests that check a failed run left it as it was, count rows, or
ask SQLite whether a file a kill left behind is sound."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def content(db: Path) -> dict[str, list]:
    """Every table's rows except the run log: what a failed run must leave as it was."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(map(repr, conn.execute(f"SELECT * FROM [{t}]")))
            for t in tables
            if t != "sync_runs" and not t.startswith(("sqlite_", "_"))
        }
    finally:
        conn.close()


def count(db: str | Path, sql: str, *args: object) -> int:
    """The one number a `select count(*) ...` query gives."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def keyed(db: str | Path, sql: str, *args: object) -> dict:
    """A query's rows by their first column (an id, a path), the rest of each as a tuple."""
    conn = sqlite3.connect(db)
    try:
        return {r[0]: r[1:] for r in conn.execute(sql, args)}
    finally:
        conn.close()


def alive(db: str | Path, table: str) -> dict[str, bool]:
    """Each row id of a table and whether it is alive: a tombstoned row maps to False."""
    conn = sqlite3.connect(db)
    try:
        found = conn.execute(f"SELECT id, deleted_at IS NULL FROM [{table}]")
        return {key: bool(up) for key, up in found}
    finally:
        conn.close()


def integrity(db: str | Path) -> str:
    """SQLite's own verdict on a file a kill left behind ("ok" when there is no file)."""
    if not Path(db).exists():
        return "ok"
    conn = sqlite3.connect(db)
    try:
        return conn.execute("pragma integrity_check").fetchone()[0]
    finally:
        conn.close()


def runs(db: str | Path) -> list[tuple]:
    """The run log's (outcome, message) in order."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT outcome, message FROM sync_runs ORDER BY id").fetchall()
    finally:
        conn.close()
