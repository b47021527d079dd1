"""Local history against the simulator (issue 16, "What it must show").

- Replaying a row's versions gives exactly the states the mirror held after each run, after
  random mutation sequences of the world (hypothesis).
- ``as of`` on ``small`` answers what the world was after each run. Two clocks date versions:
  the server's ``updated_on`` and the run's own time (tombstones, tables without
  ``updated_on``, changes the server did not date). Bitbucket's clock and ours agree; the
  simulator's world clock starts on 2026-01-01 whatever the date, so here one date cannot
  name a moment on both. Rows dated only by the server are checked at world times, tables
  dated only by runs at run times; rows with versions on both clocks are the ones left out
  (counted, never silently).
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mirror import Harness, differences

from bbmirror.engine import Options
from bbmirror.engine.outcome import now
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.store import history as h
from bbmirror.store.tables import MIRRORED, TABLES

Snapshot = dict[str, dict[str, dict[str, Any]]]


def snapshot(db: str) -> Snapshot:
    """Every mirrored row (tombstoned ones too), its versioned columns, by table then id."""
    conn = sqlite3.connect(db)
    try:
        out: Snapshot = {}
        for table in MIRRORED:
            cols = h.columns(table)
            picked = ", ".join(f"[{c}]" for c in cols)
            rows = conn.execute(f"SELECT id, {picked} FROM [{table}]").fetchall()
            out[table] = {r[0]: dict(zip(cols, r[1:], strict=True)) for r in rows}
        return out
    finally:
        conn.close()


def run(harness: Harness, reconcile: bool) -> int:
    """One sync; with ``reconcile`` (the id scan finding deletions) the mirror equals the world."""
    summary = harness.sync(Options(reconcile=reconcile))
    if reconcile:
        assert differences(harness.world, harness.db) == []
    return summary.run_id


def replayed_after(states: list[dict], run_id: int) -> dict | None:
    """The row's state after the last version a run up to ``run_id`` wrote (None: not yet)."""
    state = None
    for s in states:
        if s["run_id"] is not None and s["run_id"] <= run_id:
            state = s["state"]
    return state


@settings(
    max_examples=examples(5),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 5),
    batches=st.lists(st.integers(1, 25), min_size=1, max_size=3),
    rng_seed=st.integers(0, 2**32 - 1),
)
def test_replaying_versions_gives_the_mirror_after_each_run(
    tmp_path_factory, seed, batches, rng_seed
):
    world = generate(seed, "tiny")
    db = str(tmp_path_factory.mktemp("hist") / "m.db")
    harness = Harness(world, db)
    rng = random.Random(rng_seed)
    held = [(run(harness, True), snapshot(db))]
    for i, n in enumerate(batches):
        random_activity(world, n, rng)
        held.append((run(harness, reconcile=i % 2 == 0), snapshot(db)))
    conn = sqlite3.connect(db)
    checked = 0
    for table in MIRRORED:
        for key in held[-1][1][table]:
            states = h.states(conn, table, key)
            for run_id, snap in held:
                assert replayed_after(states, run_id) == snap[table].get(key), (table, key)
                checked += 1
            for s in states[1:]:
                assert s["kind"] == "insert" or s["changed"], (table, key)  # no empty versions
    conn.close()
    assert checked > 100


def as_of(conn: sqlite3.Connection, table: str, date: str) -> dict[str, dict]:
    cols = h.columns(table)
    rows = conn.execute(h.as_of_sql(table), {"date": date, "repository_id": ""}).fetchall()
    return {r[0]: dict(zip(cols, r[1:], strict=True)) for r in rows}


def server_dated(conn: sqlite3.Connection, table: str, key: str) -> bool:
    """Whether every version of the row carries a server time (updated_on, or an insert's
    created_on) as its time."""
    for s in h.states(conn, table, key):
        times = {s["state"].get("updated_on")}
        if s["kind"] == "insert":
            times.add(s["state"].get("created_on"))
        elif s["kind"] != "update":
            return False
        if s["observed_at"] not in times - {None}:
            return False
    return True


@pytest.mark.parametrize("size", ["tiny", pytest.param("small", marks=pytest.mark.slow)])
def test_as_of_on_small_answers_the_world_after_each_run(tmp_path, size):
    """Four runs with activity between: the fast lane's tiny world, and small in the full run."""
    world = generate(1, size)
    db = str(tmp_path / "m.db")
    harness = Harness(world, db)
    rng = random.Random(16)
    moments = []  # (world clock, run clock, snapshot) after each run
    for n in (0, 40, 40, 40):
        random_activity(world, n, rng)
        run(harness, reconcile=True)
        moments.append((world.clock, now(), snapshot(db)))
    conn = sqlite3.connect(db)
    server = [t for t in MIRRORED if {"updated_on", "created_on"} & set(TABLES[t].column_names)]
    left_out: dict[str, int] = {}
    compared = 0
    for world_at, run_at, snap in moments:
        for table in MIRRORED:
            alive = {k: v for k, v in snap[table].items() if v["deleted_at"] is None}
            if table in server:
                dated = {k for k in snap[table] if server_dated(conn, table, k)}
                left_out[table] = len(snap[table]) - len(dated)
                got = {k: v for k, v in as_of(conn, table, world_at).items() if k in dated}
                want = {k: v for k, v in alive.items() if k in dated}
            else:
                got, want = as_of(conn, table, run_at), alive
            assert got == want, table
            compared += len(want)
    conn.close()
    print(f"as of: {compared} rows compared, left out (both clocks) per table: {left_out}")
    assert {"pullrequests", "issues", "repositories"} <= set(server)
    assert compared > 1000
    # The left-out rows are a minority: most of the mirror is checked at the world's times.
    assert sum(left_out.values()) < sum(len(moments[-1][2][t]) for t in server) / 2
