"""Crash safety: a real `bbmirror sync` process killed with SIGKILL at random moments.

After every kill, a rerun must leave the database equal to the world: nothing lost, nothing
doubled, no tombstone out of place.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from mirror import TOKEN, differences

from bbmirror.config import Credentials, Secret, Source
from bbmirror.engine import Options, sync_sources
from bbmirror.simulator.cloud_api import SimulatorConfig
from bbmirror.simulator.faults import Faults
from bbmirror.simulator.generate import generate
from bbmirror.simulator.launch import viewer_uuid
from bbmirror.simulator.mutate import random_activity
from bbmirror.simulator.server import RunningSimulator

TRIALS = 20


def _start_sync(db: str, simulator: RunningSimulator) -> subprocess.Popen:
    args = [sys.executable, "-m", "bbmirror", "sync", db, "--base-url", simulator.base_url]
    for workspace in sorted(simulator.world.workspaces):
        args += ["--workspace", workspace]
    env = {**os.environ, "BITBUCKET_TOKEN": TOKEN}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _rerun(db: str, simulator: RunningSimulator) -> None:
    source = Source(
        base_url=simulator.base_url,
        workspaces=sorted(simulator.world.workspaces),
        credentials=Credentials(token=Secret(TOKEN)),
        budget=1_000_000,
    )
    summary = asyncio.run(sync_sources(db, [source], Options(reconcile=True)))[0]
    assert summary.outcome == "ok", summary.message


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_at_random_moments_then_rerun_converges(tmp_path, seed):
    world = generate(seed, "tiny")
    faults = Faults(latency=0.004)  # long enough that kills land mid-sync
    config = SimulatorConfig(tokens={TOKEN: viewer_uuid(world)}, faults=faults)
    rng = random.Random(seed)
    db = str(tmp_path / "mirror.db")
    with RunningSimulator(world, config) as simulator:
        started = time.monotonic()
        first = _start_sync(db, simulator)
        assert first.wait(timeout=120) == 0, first.stderr.read().decode()
        full_sync = time.monotonic() - started
        started = time.monotonic()  # an incremental run's length: kills must land inside one too
        again = _start_sync(db, simulator)
        assert again.wait(timeout=120) == 0, again.stderr.read().decode()
        incremental = time.monotonic() - started
        killed_mid_run = 0
        for trial in range(TRIALS // 2):
            with simulator.lock:
                random_activity(world, rng.randint(5, 40), rng)
            window = incremental
            if trial % 3 == 0:
                window = full_sync
                os.remove(db)  # some trials kill a first, full sync
                for suffix in ("-wal", "-shm"):
                    if os.path.exists(db + suffix):
                        os.remove(db + suffix)
            process = _start_sync(db, simulator)
            time.sleep(rng.uniform(0.0, window))
            if process.poll() is None:
                killed_mid_run += 1
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            _check_integrity(db)
            _rerun(db, simulator)
            with simulator.lock:
                assert differences(world, db) == [], f"trial {trial}"
    assert killed_mid_run >= TRIALS // 4, "too few kills landed during a sync"


def _check_integrity(db: str) -> None:
    """Whatever instant the kill hit, SQLite's file is consistent."""
    if not os.path.exists(db):
        return
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
