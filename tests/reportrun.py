"""Running a canned report on a mirror, as Datasette does, for the report tests."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from bbmirror.engine import Options
from bbmirror.reports import load_metadata
from bbmirror.simulator.cloud.mutate import random_activity

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


def changed_mirror(mirrored, folder: Path, changes: int, seed: int) -> SimpleNamespace:
    """The session's small Cloud mirror copied into ``folder``, after ``changes`` random changes
    and a reconciling sync that leaves it equal to the world: a report test's (world, db)."""
    db = str(folder / "bitbucket.db")
    harness = mirrored("cloud", "small").copy(db)
    random_activity(harness.world, changes, random.Random(seed))
    harness.sync_equal(Options(reconcile=True))
    return SimpleNamespace(world=harness.world, db=db)
