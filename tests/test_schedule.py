"""The scheduler against the simulator, with intervals of a second or two.

In-process tests drive `Scheduler` through the simulator's ASGI transport; the process tests
run `bbmirror schedule` for real against the simulator on a loopback port and signal it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from mirror import Harness, differences

from bbmirror.cli import cli
from bbmirror.schedule import Scheduler, SchedulerThread, backoff_delay, run_until_done, timing
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, simulator_config
from bbmirror.simulator.cloud.launch import Credentials as SimulatorCredentials
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.simulator.cloud.mutate_issues import delete_issue
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.store.db import Store

FAST = {"backoff": 0.001, "max_backoff": 0.01, "retries": 3}
WAIT = 30.0  # generous ceiling for conditions; tests finish as soon as they hold


def runs(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM sync_runs ORDER BY id")]
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        conn.close()


def scheduler(h: Harness, **kwargs) -> Scheduler:
    overrides = {k: kwargs.pop(k) for k in ("every", "reconcile_every") if k in kwargs}
    overrides.setdefault("reconcile_every", 0)
    return Scheduler(
        h.db,
        [h.source(**overrides)],
        transport=SimulatorTransport(h.app),
        client_options=kwargs.pop("client_options", FAST),
        **kwargs,
    )


def drive(s: Scheduler, until: Callable[[], bool] | None = None) -> None:
    """Run the scheduler until its run limit, or until `until()` holds (checked 10x/s)."""

    async def watch() -> None:
        while not until():
            await asyncio.sleep(0.1)
        s.done.set()

    async def main() -> None:
        watcher = asyncio.ensure_future(watch()) if until else None
        await asyncio.wait_for(run_until_done(s), WAIT)
        if watcher:
            watcher.cancel()

    asyncio.run(main())


@pytest.fixture
def harness(tmp_path) -> Harness:
    return Harness(generate(3, "tiny"), str(tmp_path / "mirror.db"))


def test_timing_and_backoff_rules():
    h = Harness(generate(3, "tiny"), ":memory:")
    t = timing(h.source(every=900.0, reconcile_every=24))
    assert (t.every, t.jitter, t.grace, t.reconcile) == (900.0, 60.0, 450, 900.0 * 24)
    assert timing(h.source(every=2.0, reconcile_every=0)).reconcile is None
    assert [backoff_delay(60, k) for k in (1, 2, 3)] == [120, 240, 480]
    assert backoff_delay(60, 10) == 3600  # capped
    assert backoff_delay(7200, 1) == 7200  # never sooner than the interval itself


def test_runs_happen_on_their_interval_and_never_overlap(harness):
    s = scheduler(harness, every=1.0, runs=3)
    started = time.monotonic()
    drive(s)
    elapsed = time.monotonic() - started
    log = runs(Path(harness.db))
    assert [r["outcome"] for r in log] == ["ok", "ok", "ok"]
    assert elapsed >= 2.0  # runs at 0, 1 and 2 s (plus jitter): never sooner
    for before, after in zip(log, log[1:], strict=False):
        assert after["started_at"] >= before["finished_at"]
    assert all(r["pid"] == os.getpid() for r in log)


def test_new_data_arrives_between_runs(harness):
    rng = random.Random(5)

    def change(_source):  # what the demo does: the world moves between runs
        with harness.app.state.lock:
            random_activity(harness.world, 15, rng)

    s = scheduler(harness, every=1.0, runs=3, before_run=change)
    drive(s)
    assert [r["outcome"] for r in runs(Path(harness.db))] == ["ok"] * 3
    assert differences(harness.world, harness.db) == []
    written = [sum(json.loads(r["rows"]).values()) for r in runs(Path(harness.db))]
    assert all(n > 0 for n in written)  # every run brought the changes made before it


def test_a_run_that_fires_while_the_last_is_going_is_skipped(harness, caplog):
    harness.app.state.faults.latency = 0.03  # ~100 requests, 4 at a time: 0.75 s a run
    caplog.set_level(logging.INFO, logger="bbmirror.schedule")
    s = scheduler(harness, every=0.25)
    drive(s, until=lambda: "skipped: previous run" in caplog.text and len(runs(harness.db)) >= 2)
    assert "cloud: skipped: previous run of cloud still going" in caplog.text
    log = [r for r in runs(Path(harness.db)) if r["outcome"] != "interrupted"]
    for before, after in zip(log, log[1:], strict=False):
        assert after["started_at"] >= before["finished_at"]


def test_failures_back_off_and_a_success_resets(harness, caplog):
    caplog.set_level(logging.INFO, logger="bbmirror.schedule")
    faults = harness.app.state.faults
    faults.fault_rate, faults.fault_kinds = 1.0, ("500",)
    s = scheduler(harness, every=1.0, client_options={**FAST, "retries": 0})
    jobs = s.jobs["cloud"]
    seen: list[float] = []

    def failed_once() -> bool:
        if jobs.failures == 1 and not seen:
            job = s.aps.get_job("sync:cloud")
            failed = next(r for r in caplog.records if "failed after" in r.getMessage())
            seen.append(job.next_run_time.timestamp() - failed.created)
            faults.fault_rate = 0.0  # Bitbucket recovers
        return bool(seen) and jobs.failures == 0 and len(runs(harness.db)) >= 1

    drive(s, until=failed_once)
    assert "failed after" in caplog.text and "next try in 2s (failure 1 in a row)" in caplog.text
    assert 1.9 < seen[0] <= 2.0  # doubled from 1 s, not the plain interval
    assert jobs.failures == 0
    # The next run may have started before the scheduler stopped: shutdown interrupts it.
    finished = [r["outcome"] for r in runs(Path(harness.db)) if r["outcome"] != "interrupted"]
    assert finished[-1] == "ok"


def test_the_slow_job_reconciles_and_tombstones_what_vanished(harness):
    s = scheduler(harness, every=1.0, reconcile_every=2)
    gone: list[str] = []

    def vanish_then_wait() -> bool:
        log = runs(Path(harness.db))
        if log and log[0]["outcome"] == "ok" and not gone:
            with harness.app.state.lock:
                repo = next(r for r in harness.world.repositories.values() if r.issues)
                issue = next(iter(repo.issues.values()))
                delete_issue(harness.world, repo, issue)
            gone.append(f"{repo.uuid}/issue/{issue.id}")
        return any(json.loads(r["options"])["reconcile"] and r["outcome"] == "ok" for r in log)

    drive(s, until=vanish_then_wait)
    log = runs(Path(harness.db))
    assert not json.loads(log[0]["options"])["reconcile"]  # the first run does not reconcile
    with sqlite3.connect(harness.db) as conn:
        deleted = conn.execute("SELECT deleted_at FROM issues WHERE id = ?", gone).fetchone()
    assert deleted is not None and deleted[0] is not None
    assert differences(harness.world, harness.db) == []


@pytest.mark.slow  # really waits: each run tries the lock 3 times, 2 s apart (turn.py)
def test_a_held_writer_lock_means_skip_not_crash(harness, caplog):
    caplog.set_level(logging.INFO, logger="bbmirror.schedule")
    holder = Store.open(harness.db)
    holder.acquire_writer_lock()  # as a manual `bbmirror sync` would
    try:
        s = scheduler(harness, every=1.0, runs=2)
        drive(s)
    finally:
        holder.close()
    assert caplog.text.count("skipped: another bbmirror sync is writing") == 2
    assert runs(Path(harness.db)) == [] and s.jobs["cloud"].failures == 0


def test_the_scheduler_thread_stops_promptly(harness):
    thread = SchedulerThread(
        harness.db,
        [harness.source(every=1.0, reconcile_every=0)],
        transport=SimulatorTransport(harness.app),
        client_options=FAST,
    ).start()
    deadline = time.monotonic() + WAIT
    while not any(r["outcome"] == "ok" for r in runs(Path(harness.db))):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    thread.stop()
    assert not thread._thread.is_alive()
    assert thread.scheduler.owner.fd is None  # the owner lock went with it


# -- real processes ----------------------------------------------------------------------


def _start(db: Path, base_url: str, workspaces: list[str], log: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "bbmirror", "schedule", str(db), "--base-url", base_url]
    for ws in workspaces:
        args += ["--workspace", ws]
    env = {**os.environ, "BITBUCKET_TOKEN": DEFAULT_TOKEN, "BBMIRROR_MIN_EVERY": "1"}
    with log.open("wb") as out:
        return subprocess.Popen([*args, "--every", "1s"], stderr=out, stdout=out, env=env)


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_two_processes_one_writer_and_a_killed_one_does_not_block(tmp_path):
    world = generate(4, "tiny")
    db = tmp_path / "mirror.db"
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    config = simulator_config(world, SimulatorCredentials(token=DEFAULT_TOKEN))
    with RunningSimulator(world, config) as sim:
        workspaces = sorted(world.workspaces)
        a = _start(db, sim.base_url, workspaces, log_a)
        b = None
        try:
            _wait(lambda: any(r["pid"] == a.pid for r in runs(db)), "a run by the first")
            b = _start(db, sim.base_url, workspaces, log_b)
            _wait(lambda: log_b.read_text().count("skipped: another bbmirror schedule") >= 2, "b")
            assert f"(pid {a.pid})" in log_b.read_text()
            assert {r["pid"] for r in runs(db)} == {a.pid}  # the second never wrote

            a.send_signal(signal.SIGKILL)
            a.wait(WAIT)
            _wait(lambda: any(r["pid"] == b.pid and r["outcome"] == "ok" for r in runs(db)), "b")

            sim.faults.latency = 0.3  # make B's runs long, then stop it in the middle of one
            _wait(lambda: runs(db)[-1]["pid"] == b.pid and runs(db)[-1]["outcome"] == "running", "")
            stopped = time.monotonic()
            b.send_signal(signal.SIGTERM)
            assert b.wait(WAIT) == 0, log_b.read_text()
            assert time.monotonic() - stopped < 10
        finally:
            for proc in (a, b):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
    text = log_b.read_text()
    assert "interrupted after" in text and "stopped" in text
    assert DEFAULT_TOKEN not in text and DEFAULT_TOKEN not in log_a.read_text()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT repository_id, number FROM pullrequests"
            " GROUP BY 1, 2 HAVING count(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0
    mine = [r for r in runs(db) if r["pid"] == b.pid]
    assert mine[-1]["outcome"] == "interrupted"
    assert all(r["outcome"] != "running" for r in mine)
    # The interrupted run's committed pages stay and the next sync converges.
    assert Harness(world, str(db)).sync().outcome == "ok"
    assert differences(world, str(db)) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "x.toml", "--every", "5m"], "go in the config file"),
        (["--every", "soon"], "cannot read duration 'soon'"),
        (["--config", "missing.toml"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["schedule", str(tmp_path / "m.db"), *args])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "m.db").exists()
