"""The sync protocol's properties, written once and proven for Cloud and Data Center alike.

Each test takes the `flavour` fixture (tests/conftest.py) and runs once per flavour against its
in-process simulator: equality with the world, every kind of row, the run log, the exact no-op
request count, children only for changed parents, faults, truncated and malformed JSON, no
credential anywhere, convergence over random activity with tombstones never deletions, one
clear line for each bad input, and (marked slow: real processes) crash resume after SIGKILL at
random moments.
Flavour-only behaviour stays in test_sync_cloud.py and test_sync_server.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dbstate
import pytest
from click.testing import CliRunner
from conftest import Flavour, examples
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bbmirror.cli import cli
from bbmirror.engine import Options, sync_sources


@pytest.fixture(params=["tiny", pytest.param("small", marks=pytest.mark.slow)])
def small_mirror(flavour: Flavour, mirrored, request):
    """The session's full sync of the flavour's world, for the read-only checks below: `tiny`
    (a seed that holds every kind of row) in the fast lane, `small` too in the full run."""
    shared = mirrored(flavour.name, request.param)
    return shared.harness, shared.summary


def test_full_sync_of_small_world_equals_the_world(flavour: Flavour, small_mirror):
    harness, summary = small_mirror
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert flavour.differences(harness.world, harness.db) == []


def test_full_sync_covers_every_kind_of_row(flavour: Flavour, small_mirror):
    harness, _ = small_mirror
    conn = sqlite3.connect(harness.db)
    empty = [sql for sql in flavour.coverage if not conn.execute(sql).fetchone()[0]]
    assert empty == []


def test_run_is_logged_with_rows_and_requests(small_mirror):
    harness, summary = small_mirror
    conn = sqlite3.connect(harness.db)
    outcome, requests, errors = conn.execute(
        "select outcome, requests, errors from sync_runs where id = ?", (summary.run_id,)
    ).fetchone()
    assert (outcome, errors) == ("ok", 0)
    assert requests == summary.requests == len(harness.log)


def test_a_sync_with_nothing_changed_makes_only_the_protocol_requests(flavour, tmp_path):
    harness = flavour.mirror(5, "tiny", str(tmp_path / "m.db"))
    harness.sync()
    harness.log.clear()
    summary = harness.sync()
    assert summary.requests == len(harness.log) == flavour.no_op_requests(harness.world)
    assert summary.rows == {}
    children = ("/comments", "/activity", "/activities", "/commits")
    feed = "/pullrequests/activity"  # Cloud's repository-wide feed: one page a run, no child
    assert [r.path for r in harness.log if r.path.endswith(children) and feed not in r.path] == []


def test_a_new_pr_comment_fetches_only_that_prs_children(flavour, tmp_path):
    harness = flavour.mirror(5, "tiny", str(tmp_path / "m.db"))
    harness.sync()
    number = flavour.comment_on_a_pr(harness.world)
    harness.log.clear()
    harness.sync()
    feed = "/pullrequests/activity"  # Cloud: the comment comes with the feed's first page
    children = [r.path for r in harness.log if flavour.pr_path in r.path and feed not in r.path]
    assert children or flavour.name == "cloud", "the changed PR's children were not fetched"
    assert all(f"{flavour.pr_path}{number}/" in p for p in children), children
    assert len(harness.log) == flavour.no_op_requests(harness.world) + len(children)
    assert flavour.differences(harness.world, harness.db) == []


FAULTS = [
    ("cloud", ("429",)),
    ("cloud", ("500", "555")),
    ("cloud", ("drop",)),
    ("cloud", ("429", "502", "drop")),
    ("server", ("429",)),
    ("server", ("500", "503")),
    ("server", ("drop",)),
    ("server", ("429", "502", "drop")),
]


@pytest.mark.parametrize(
    "flavour, kinds", FAULTS, indirect=["flavour"], ids=[f"{f}-{'+'.join(k)}" for f, k in FAULTS]
)
def test_faults_on_a_fifth_of_requests_do_not_change_the_result(flavour, tmp_path, kinds):
    faults = {"fault_rate": 0.2, "fault_kinds": kinds, "retry_after": False}
    harness = flavour.mirror(7, "tiny", str(tmp_path / "m.db"), **faults)
    summary = harness.sync()
    assert summary.outcome == "ok", summary.message
    assert {r.status for r in harness.log} - {200}, "no fault was injected"
    assert flavour.differences(harness.world, harness.db) == []


def test_the_credential_never_reaches_the_database_or_the_request_log(flavour, tmp_path):
    harness = flavour.mirror(3, "tiny", str(tmp_path / "m.db"))
    harness.sync()
    for path in tmp_path.iterdir():
        assert flavour.token.encode() not in Path(path).read_bytes(), path
    assert all(flavour.token not in repr(r) for r in harness.log)


def test_truncated_json_is_retried_like_a_5xx(flavour, tmp_path):
    """A truncated 200 is retried (issue 11.9): 15 % garbage still gives an equal mirror."""
    faults = {"fault_rate": 0.15, "fault_kinds": ("garbage",), "seed": 3}
    harness = flavour.mirror(7, "tiny", str(tmp_path / "m.db"), **faults)
    summary = harness.sync()
    assert harness.app.state.faults.counters["garbage"] > 0
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert flavour.differences(harness.world, harness.db) == []


def test_malformed_json_is_quarantined_and_the_next_run_catches_up(flavour, tmp_path):
    """Truncated JSON that retries cannot fix: the stream's page is quarantined with its
    reason, the other streams go on, and a clean run later converges."""
    faults = {"fault_rate": 0.6, "fault_kinds": ("garbage",), "seed": 3}
    harness = flavour.mirror(7, "tiny", str(tmp_path / "m.db"), **faults)
    first = harness.sync()
    assert first.outcome == "partial" and first.errors > 0
    conn = sqlite3.connect(harness.db)
    reasons = [r[0] for r in conn.execute("select reason from sync_errors")]
    assert len(reasons) == first.errors and any("invalid JSON" in r for r in reasons)
    # Every other entry is a skip that names what could not be read.
    assert all("invalid JSON" in r or "could not be read" in r for r in reasons), reasons
    assert conn.execute("select count(*) from pullrequests").fetchone()[0]  # others went on
    harness.app.state.faults.fault_rate = 0
    assert harness.sync().outcome == "ok"
    assert flavour.differences(harness.world, harness.db) == []


@settings(
    max_examples=examples(4),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a sync story is slow
)
@given(
    seed=st.integers(0, 10_000),
    batches=st.lists(st.integers(1, 45), min_size=6, max_size=10).filter(lambda b: sum(b) >= 200),
    reconcile_at=st.integers(0, 9),
    data=st.data(),
)
def test_incremental_syncs_converge_on_the_world(
    flavour, tmp_path_factory, seed, batches, reconcile_at, data
):
    """Random activity between incremental syncs (under the flavour's undocumented-behaviour
    switches): every run is ok, and after a reconciliation the mirror equals the world, with
    every vanished row tombstoned, never deleted."""
    options = data.draw(flavour.world_options, label="world options")
    db = str(tmp_path_factory.mktemp("converge") / "m.db")
    harness = flavour.harness(flavour.generate(seed, "tiny", **options), db)
    rng = random.Random(seed)
    harness.sync()
    for index, n in enumerate(batches):
        flavour.random_activity(harness.world, n, rng)
        summary = harness.sync(Options(reconcile=index == reconcile_at))
        assert summary.outcome == "ok", summary.message
    harness.sync(Options(reconcile=True))
    assert flavour.differences(harness.world, db) == []
    assert _misplaced_tombstones(flavour, harness.world, db) == []


def _misplaced_tombstones(flavour: Flavour, world, db: str) -> list[str]:
    """Rows alive that the world lacks, or tombstoned that the world has (empty when right)."""
    alive = flavour.expected(world)
    conn = sqlite3.connect(db)
    wrong = []
    for table in flavour.tombstoned:
        for row_id, deleted_at in conn.execute(f"select id, deleted_at from {table}"):
            if (row_id in alive[table]) == (deleted_at is not None):
                wrong.append(f"{table}: {row_id} deleted_at={deleted_at}")
    return wrong[:10]


# -- bad input: one clear line, a failed run in the log, every mirrored row untouched ---------


@pytest.fixture(scope="module")
def loopback(flavour: Flavour):
    """The flavour's simulator on a loopback port (a thread), for the command line."""
    with flavour.serve(flavour.generate(21, "tiny"), 0.0) as running:
        yield running


def test_bad_input_is_one_line_and_leaves_the_database(flavour, loopback, tmp_path):
    """A wrong token, an unknown scope or repository, an unreachable host: one `Error:` line
    that never echoes the token, exit 1, and the database holds the same rows plus one failed
    run."""
    db = tmp_path / "m.db"
    flags, env = flavour.cli_sync(loopback)
    good = CliRunner().invoke(cli, ["sync", str(db), *flags], env=env)
    assert good.exit_code == 0, good.output
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nobody listens once it closes
    for flags, env, says in flavour.bad_inputs(loopback, dead):
        before, runs = dbstate.content(db), dbstate.runs(db)
        result = CliRunner().invoke(cli, ["sync", str(db), *flags], env=env)
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert says in lines[0] and "not-the-token" not in lines[0], lines[0]
        assert flavour.token not in result.output
        assert dbstate.content(db) == before, says
        after = dbstate.runs(db)
        assert after[:-1] == runs and after[-1][0] == "failed", (says, after)


# -- crash resume: a real `bbmirror sync` process SIGKILLed at random moments -----------------

KILLS = 10  # per seed and flavour


def _start_sync(flavour: Flavour, running, db: str) -> subprocess.Popen:
    flags, env = flavour.cli_sync(running)
    args = [sys.executable, "-m", "bbmirror", "sync", db, *flags]
    return subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_at_random_moments_then_rerun_converges(flavour, tmp_path, seed):
    """After every kill (some during a first, full sync), the file is sound and a rerun leaves
    the mirror equal to the world: nothing lost, nothing doubled, no tombstone out of place."""
    world = flavour.generate(seed, "tiny")
    rng = random.Random(seed)
    db = str(tmp_path / "mirror.db")
    with flavour.serve(world, 0.004) as running:  # latency long enough for kills mid-sync
        started = time.monotonic()
        first = _start_sync(flavour, running, db)
        assert first.wait(timeout=120) == 0, first.stderr.read().decode()
        full_sync = time.monotonic() - started
        source = flavour.rerun_source(running)
        killed_mid_run = 0
        for trial in range(KILLS):
            with running.lock:
                flavour.random_activity(world, rng.randint(5, 40), rng)
            if trial % 3 == 0:  # some trials kill a first, full sync
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(db + suffix):
                        os.remove(db + suffix)
            process = _start_sync(flavour, running, db)
            time.sleep(rng.uniform(0.0, full_sync))
            killed_mid_run += process.poll() is None
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert dbstate.integrity(db) == "ok", f"trial {trial}"
            summary = asyncio.run(sync_sources(db, [source], Options(reconcile=True)))[0]
            assert summary.outcome == "ok", summary.message
            with running.lock:
                assert flavour.differences(world, db, source=flavour.cli_source) == [], trial
    assert killed_mid_run >= KILLS // 2, "too few kills landed during a sync"
