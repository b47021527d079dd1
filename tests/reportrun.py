"""Running a canned report on a mirror, as Datasette does, for the report tests."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from bbmirror.reports import load_metadata

QUERIES = load_metadata()["databases"]["bitbucket"]["queries"]


def run(db: str, sql: str, **params: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def report(db: str, name: str, **params: str) -> list[dict]:
    """Run a canned query the way Datasette does: every declared parameter, blank if unset."""
    spec = QUERIES[name]
    values = {p: "" for p in spec["params"]}
    values.update(params)
    return run(db, spec["sql"], **values)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)
