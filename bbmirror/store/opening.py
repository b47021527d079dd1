"""Checks before and while opening a database, and one-line explanations of SQLite errors.

Choices where the brief is silent:

- Opening refuses an existing SQLite file that holds tables but no ``_migrations``: it is
  somebody else's database, and bbmirror will not add forty tables to it.
- Read-only and unwritable paths are judged by permission bits as well as ``os.access``, so a
  ``chmod a-w`` file is treated as read-only even for root.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from bbmirror.store.schema import SCHEMA_VERSION, StoreError, current_version

SQLITE_HEADER = b"SQLite format 3\x00"


def _writable(path: Path) -> bool:
    """True when the path may be written: permitted, and not stripped of all write bits."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def check_path(p: Path, readonly: bool) -> bool:
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


def check_contents(conn: sqlite3.Connection, p: Path, readonly: bool) -> None:
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


def explain(exc: sqlite3.Error, p: Path) -> str:
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
