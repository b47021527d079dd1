"""Reading a mirror's alive rows and comparing them with what a flavour's oracle expects."""

from __future__ import annotations

import sqlite3

Rows = dict[str, dict[str, tuple]]


def actual(db: str, source: str, queries: dict[str, str]) -> dict:
    """The alive rows of one source in the mirror, in the shape the oracles' ``expected`` uses."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, dict[str, tuple]] = {}
        for name, sql in queries.items():
            sql += (
                " and" if " where " in sql else " where "
            ) + " deleted_at is null and source = ?"
            if name == "activity_count":
                sql += " group by pullrequest_id"
            rows = conn.execute(sql, (source,)).fetchall()
            ids = [r[0] for r in rows]
            assert len(ids) == len(set(ids)), f"duplicate ids in {name}"
            out[name] = {r[0]: tuple(r[1:]) for r in rows}
        return out
    finally:
        conn.close()


def compare(want_all: Rows, have_all: Rows, tables: dict[str, str], limit: int = 5) -> list[str]:
    """Human-readable differences, table by table: missing, unexpected, then wrong rows."""
    problems = []
    for table in tables:
        want, have = want_all.get(table, {}), have_all.get(table, {})
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        for k in missing[:limit]:
            problems.append(f"{table}: missing {k} {want[k]}")
        for k in extra[:limit]:
            problems.append(f"{table}: unexpected {k} {have[k]}")
        for k in wrong[:limit]:
            problems.append(f"{table}: {k} is {have[k]}, world says {want[k]}")
    return problems
