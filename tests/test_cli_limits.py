"""The smaller gaps of issue 11: config limits, budget waits, import/export guards, disk and
database failures in one line, Datasette's bounds, lock files, and a stopped lock owner."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import copy_database
from mirror import TOKEN, Harness

from bbmirror.cli import cli
from bbmirror.engine import Options, sync_sources
from bbmirror.schedule import Scheduler, run_until_done
from bbmirror.serve import HEAP_LIMIT, make_datasette
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.status import collect
from bbmirror.store.pidlock import PidLock

ROOT = Path(__file__).resolve().parent.parent
ENV = {"BITBUCKET_TOKEN": TOKEN, "BITBUCKET_EMAIL": None, "BITBUCKET_API_TOKEN": None}
WAIT = 60.0


@pytest.fixture(scope="module")
def simulator():
    world = generate(21, "tiny")
    with RunningSimulator(world, SimulatorConfig(tokens={TOKEN: viewer_uuid(world)})) as running:
        yield running


@pytest.fixture(scope="module")
def one_sync(tmp_path_factory, simulator) -> Path:
    """One good sync per module, copied by `mirrored` (a sync is a second of CPU)."""
    db = tmp_path_factory.mktemp("cli-limits") / "m.db"
    result = CliRunner().invoke(
        cli, ["sync", str(db), "--base-url", simulator.base_url, "--workspace", "acme"], env=ENV
    )
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def mirrored(tmp_path, one_sync) -> Path:
    return copy_database(one_sync, tmp_path)


def _one_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("budget = true", "budget must be a positive whole number"),
        ('every = "0s"', "too short"),
        ('base_url = "ftp://example.com/2.0"', "not an http(s) URL"),
        ('base_url = "not a url at all"', "not an http(s) URL"),
        ('base_url = "https://alice:s3cret-pass@bitbucket.example.com"', "must not hold"),
    ],
)
def test_config_gaps_are_refused_at_once(tmp_path, simulator, entry, expected):
    config = tmp_path / "bbmirror.toml"
    lines = ["[[source]]", f'base_url = "{simulator.base_url}"', 'workspaces = ["acme"]']
    if entry.startswith("base_url"):
        lines[1] = entry
    else:
        lines.append(entry)
    config.write_text("\n".join(lines) + "\n")
    db = tmp_path / "m.db"
    line = _one_line(CliRunner().invoke(cli, ["sync", str(db), "--config", str(config)], env=ENV))
    assert expected in line
    assert "s3cret-pass" not in line
    assert not db.exists()


def test_credentials_in_a_base_url_flag_are_refused_without_echo(tmp_path):
    url = "https://bob:hunter2-secret@bitbucket.example.com/2.0"
    line = _one_line(CliRunner().invoke(cli, ["sync", str(tmp_path / "m.db"), "--base-url", url]))
    assert "must not hold" in line and "hunter2-secret" not in line


def test_schedule_takes_syncs_source_flags(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["schedule", str(tmp_path / "m.db"), "--budget", "0", "--only", "pullrequests"],
        env=ENV,
    )
    assert "--budget must be a positive whole number" in _one_line(result)
    result = CliRunner().invoke(cli, ["schedule", str(tmp_path / "m.db"), "--only", "nope"])
    assert "unknown stream 'nope'" in _one_line(result)


def test_a_budget_wait_is_said_on_stderr(tmp_path, caplog):
    """With a budget of 3 an hour the fourth request waits; the wait is said, then cancelled."""
    h = Harness(generate(21, "tiny"), str(tmp_path / "m.db"))

    async def main() -> None:
        task = asyncio.ensure_future(
            sync_sources(
                h.db,
                [h.source(budget=3)],
                Options(),
                transport=SimulatorTransport(h.app),
                client_options={"backoff": 0.001, "max_backoff": 0.01, "retries": 3},
            )
        )
        deadline = time.monotonic() + WAIT
        while "request budget" not in caplog.text:
            assert time.monotonic() < deadline and not task.done(), caplog.text
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING, logger="bbmirror.budget"):
        asyncio.run(main())
    said = [r.getMessage() for r in caplog.records if "request budget" in r.getMessage()]
    assert "budget of 3 spent" in said[0] and "--budget" in said[0] and "min" in said[0]


def test_import_issues_refuses_a_repository_not_in_the_mirror(mirrored, tmp_path):
    archive = tmp_path / "db-2.0.json"
    archive.write_text(json.dumps({"issues": [], "comments": [], "logs": [], "meta": {}}))
    before = sqlite3.connect(mirrored).execute("SELECT count(*) FROM repositories").fetchone()
    result = CliRunner().invoke(
        cli, ["import-issues", str(mirrored), str(archive), "--repo", "acme/typo-repo"]
    )
    line = _one_line(result)
    assert "'acme/typo-repo' is not in" in line and "--create-repo" in line
    after = sqlite3.connect(mirrored).execute("SELECT count(*) FROM repositories").fetchone()
    assert after == before


def test_export_issues_into_a_missing_folder_is_one_clear_line(mirrored, tmp_path):
    out = tmp_path / "nowhere" / "issues.zip"
    result = CliRunner().invoke(
        cli, ["export-issues", str(mirrored), "--repo", "acme/api-gateway", "-o", str(out)]
    )
    line = _one_line(result)
    assert "does not exist" in line and "[Errno" not in line


def test_a_damaged_database_is_one_line(mirrored, simulator):
    size = mirrored.stat().st_size
    with mirrored.open("r+b") as f:  # schema intact (it opens), data pages damaged
        f.seek(size // 2)
        f.write(b"\xa5" * (size - size // 2))
    result = CliRunner().invoke(
        cli, ["sync", str(mirrored), "--base-url", simulator.base_url, "--workspace", "acme"],
        env=ENV,
    )  # fmt: skip
    line = _one_line(result)
    assert "damaged" in line or "not a" in line, line
    assert "Traceback" not in CliRunner().invoke(cli, ["status", str(mirrored)]).output


@pytest.mark.slow
@pytest.mark.parametrize("kib", [64, 1000])  # at open (the schema), and in the middle of a sync
def test_a_file_size_limit_is_one_line(tmp_path, simulator, kib):
    """A real process under ``ulimit -f`` (RLIMIT_FSIZE): EFBIG, not a traceback."""
    db = tmp_path / "m.db"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))

    args = [sys.executable, "-m", "bbmirror", "sync", str(db), "--base-url", simulator.base_url]
    done = subprocess.run(
        [*args, "--workspace", "acme"],
        capture_output=True,
        text=True,
        env={**os.environ, "BITBUCKET_TOKEN": TOKEN},
        preexec_fn=limit,
        timeout=300,  # a guard, not a measure
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "file size limit" in lines[0] or "disk I/O error" in lines[0], lines[0]


def test_datasette_is_bounded(mirrored):
    ds = make_datasette(mirrored)
    assert ds.setting("max_returned_rows") == 1000
    assert ds.setting("sql_time_limit_ms") <= 5000
    assert ds.setting("max_csv_mb") <= 100

    async def heap_limit() -> int:
        result = await ds.get_database().execute("PRAGMA hard_heap_limit")
        return result.first()[0]

    assert asyncio.run(heap_limit()) == HEAP_LIMIT


def test_lock_files_are_removed_on_clean_exit_and_ignored(mirrored):
    assert not Path(f"{mirrored}.lock").exists()
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "*.db.lock" in ignored and "*.db.schedule.lock" in ignored


def test_status_defaults_to_bitbucket_db(mirrored, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    (here / "bitbucket.db").write_bytes(mirrored.read_bytes())
    monkeypatch.chdir(here)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    assert "bitbucket.db" in result.output.splitlines()[0]


HOLDER = """
import sys, time
from bbmirror.store.pidlock import PidLock
lock = PidLock(sys.argv[1])
assert lock.acquire() is None
print("held", flush=True)
while True:
    lock.beat()
    time.sleep(0.1)
"""


@pytest.mark.slow
def test_a_stopped_scheduler_is_detected_and_said_loudly(tmp_path, caplog):
    """A real process holds the scheduler lock, beating 10 times a second, then is SIGSTOPped."""
    h = Harness(generate(21, "tiny"), str(tmp_path / "m.db"))
    assert h.sync().outcome == "ok"
    lock = f"{Path(h.db).absolute()}.schedule.lock"
    owner = subprocess.Popen(
        [sys.executable, "-c", HOLDER, lock], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert owner.stdout.readline().strip() == "held"
        assert collect(h.db, stale_after=2.0)["scheduler"]["stale"] is False
        owner.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + WAIT
        while not collect(h.db, stale_after=2.0)["scheduler"]["stale"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        report = collect(h.db, stale_after=2.0)
        assert report["scheduler"]["pid"] == str(owner.pid)
        second = Scheduler(
            h.db,
            [h.source(reconcile_every=0)],
            transport=SimulatorTransport(h.app),
            runs=1,
            stale_after=2.0,
        )
        with caplog.at_level(logging.INFO, logger="bbmirror.schedule"):
            asyncio.run(asyncio.wait_for(run_until_done(second), WAIT))
    finally:
        owner.send_signal(signal.SIGCONT)
        owner.kill()
        owner.wait()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no progress" in r.getMessage() and str(owner.pid) in r.getMessage()
               for r in warnings), caplog.text  # fmt: skip
    assert PidLock(lock).holder() is None  # the dead owner's lock is free again


@pytest.mark.slow
def test_the_simulators_mirror_command_finishes(tmp_path):
    """`simulate --size small` prints a mirror command whose budget lets a first sync finish
    at once (under the default 1,000 an hour a larger world would wait out the hour)."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "bbmirror", "simulate", "--port", "0", "--size", "small"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = ""
        while "Mirror it:" not in line:
            line = sim.stdout.readline()
            assert line, "the simulator stopped"
        words = line.split("Mirror it:", 1)[1].split()
        env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
        args = [w for w in words if w not in {f"{k}={v}" for k, v in env.items()}]
        assert args[:2] == ["bbmirror", "sync"]
        args[2] = str(tmp_path / "sim.db")
        done = subprocess.run(
            [sys.executable, "-m", "bbmirror", *args[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=600,  # a guard against waiting out the hourly budget, not a measure
        )
    finally:
        sim.terminate()
        sim.wait()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cloud: ok")
    requests = int(done.stdout.split(" requests")[0].rsplit(" ", 1)[1])
    budget = int(args[args.index("--budget") + 1])
    assert 0 < requests < budget and budget > 1000  # not the default budget: it never waits
