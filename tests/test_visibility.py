"""Missing credentials never read anonymously, and losing sight of something never deletes it.

Issue 11.3: driven through the real CLI against the simulator on a loopback port (and the
scheduler in-process), with a world whose workspace is public and holds private repositories
and projects.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mirror import BASE, TOKEN, Harness

from bbmirror.cli import cli
from bbmirror.config import Credentials, Secret
from bbmirror.engine import Options
from bbmirror.schedule import Scheduler, run_until_done
from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.cloud.world import User
from bbmirror.simulator.common.transport import SimulatorTransport

OTHER = "outsider-token-0123456789"
CLEAN_ENV = {
    "BITBUCKET_TOKEN": None,
    "BITBUCKET_EMAIL": None,
    "BITBUCKET_API_TOKEN": None,
    "ACME_TOKEN": None,
}


@pytest.fixture(scope="module")
def simulator():
    world = generate(3, "tiny")  # a public workspace; private and public repos and projects
    config = SimulatorConfig(tokens={TOKEN: viewer_uuid(world)})
    with RunningSimulator(world, config) as running:
        yield running


def _sync(simulator, db: Path, *args: str, token: str | None = TOKEN):
    env = {**CLEAN_ENV, "BITBUCKET_TOKEN": token}
    return CliRunner().invoke(
        cli,
        ["sync", str(db), "--base-url", simulator.base_url, "--workspace", "acme", *args],
        env=env,
    )


def _hash(db: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db.parent.iterdir())
        if p.name.startswith(db.name)
    }


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _private_names(simulator) -> set[str]:
    return {r.full_name for r in simulator.world.repositories.values() if r.is_private}


def test_no_token_refuses_in_one_line_and_leaves_the_database(tmp_path, simulator):
    db = tmp_path / "m.db"
    assert _sync(simulator, db).exit_code == 0
    before = _hash(db)
    result = _sync(simulator, db, token=None)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no credentials"), result.output
    assert "BITBUCKET_TOKEN" in lines[0] and "--anonymous" in lines[0]
    assert _hash(db) == before  # not even a run row: nothing started
    fresh = tmp_path / "fresh.db"
    assert _sync(simulator, fresh, token=None).exit_code == 1
    assert not fresh.exists()


def _sync_config(tmp_path, simulator, name: str, extra: str) -> tuple[Path, Result]:
    """`bbmirror sync --config` with one source on the simulator's `acme` (no token set)."""
    config = tmp_path / "bbmirror.toml"
    config.write_text(
        f'[[source]]\nname = "{name}"\nbase_url = "{simulator.base_url}"\n'
        f'workspaces = ["acme"]\n{extra}\n'
    )
    db = tmp_path / "m.db"
    result = CliRunner().invoke(cli, ["sync", str(db), "--config", str(config)], env=CLEAN_ENV)
    return db, result


def test_a_config_whose_credential_variable_is_unset_names_it(tmp_path, simulator):
    db, result = _sync_config(tmp_path, simulator, "acme", 'credentials = "ACME"')
    assert result.exit_code == 1
    assert "ACME_TOKEN" in result.output and len(result.output.strip().splitlines()) == 1
    assert not db.exists()


def test_an_anonymous_read_marks_nothing_private_deleted(tmp_path, simulator):
    db = tmp_path / "m.db"
    assert _sync(simulator, db).exit_code == 0
    private = _private_names(simulator)
    assert private and private <= {r[0] for r in _rows(db, "SELECT full_name FROM repositories")}
    projects = _rows(db, "SELECT count(*) FROM projects")[0][0]
    assert projects > 0

    result = _sync(simulator, db, "--anonymous")  # the token is set, but anonymous was asked
    assert result.exit_code == 0, result.output
    assert "anonymously" in result.output
    assert _rows(db, "SELECT full_name FROM repositories WHERE deleted_at IS NOT NULL") == []
    assert _rows(db, "SELECT key FROM projects WHERE deleted_at IS NOT NULL") == []
    assert _rows(db, "SELECT count(*) FROM workspaces WHERE deleted_at IS NOT NULL") == [(0,)]
    message = _rows(db, "SELECT message FROM sync_runs ORDER BY id DESC LIMIT 1")[0][0]
    assert "anonymously" in message

    # The trusted credential still tombstones what really vanished.
    assert _sync(simulator, db).exit_code == 0
    assert _rows(db, "SELECT count(*) FROM repositories WHERE deleted_at IS NOT NULL") == [(0,)]


def test_a_config_can_ask_for_anonymous_reading(tmp_path, simulator):
    db, result = _sync_config(tmp_path, simulator, "public", "anonymous = true")
    assert result.exit_code == 0, result.output
    names = {r[0] for r in _rows(db, "SELECT full_name FROM repositories")}
    assert names and not names & _private_names(simulator)  # public data only


@pytest.mark.slow
def test_schedule_without_credentials_refuses(tmp_path, simulator):
    """A real process: before the fix it read anonymously on schedule, for ever."""
    db = tmp_path / "m.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITBUCKET_", "ACME_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bbmirror", "schedule", str(db), "--base-url", simulator.base_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,  # a guard against the old behaviour (running for ever), not a measure
    )
    assert done.returncode == 1
    assert "BITBUCKET_TOKEN" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_an_anonymous_scheduler_marks_nothing_private_deleted(tmp_path):
    world = generate(3, "tiny")
    h = Harness(world, str(tmp_path / "m.db"))
    assert h.sync().outcome == "ok"
    source = h.source(credentials=Credentials(), anonymous=True, reconcile_every=0, every=1)
    scheduler = Scheduler(
        h.db,
        [source],
        transport=SimulatorTransport(h.app),
        client_options={"backoff": 0.001, "max_backoff": 0.01, "retries": 3},
        runs=2,
    )
    asyncio.run(asyncio.wait_for(run_until_done(scheduler), 60))
    db = Path(h.db)
    outcomes = _rows(db, "SELECT outcome FROM sync_runs ORDER BY id")
    assert outcomes[1:] == [("ok",), ("ok",)], outcomes
    assert _rows(db, "SELECT count(*) FROM repositories WHERE deleted_at IS NOT NULL") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM projects WHERE deleted_at IS NOT NULL") == [(0,)]


def test_other_credentials_do_not_tombstone_until_adopted(tmp_path):
    """An outsider's token sees only public repositories: that is not a deletion, unless the
    user adopts that credential with `--reconcile` (Options.adopt_lister)."""
    world = generate(3, "tiny")
    outsider = User("{outsider}", "outsider-1", "Outsider", "outsider", "2020-01-01T00:00:00Z")
    world.users[outsider.uuid] = outsider
    h = Harness(world, str(tmp_path / "m.db"))
    h.app = create_app(
        world,
        SimulatorConfig(base_url=BASE, tokens={TOKEN: viewer_uuid(world), OTHER: outsider.uuid}),
    )
    assert h.sync().outcome == "ok"
    other = Credentials(token=Secret(OTHER))
    summary = h.sync(credentials=other)
    assert summary.outcome == "ok" and "other credentials" in summary.message
    db = Path(h.db)
    assert _rows(db, "SELECT count(*) FROM repositories WHERE deleted_at IS NOT NULL") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM projects WHERE deleted_at IS NOT NULL") == [(0,)]
    h.sync(Options(reconcile=True, adopt_lister=True), credentials=other)
    gone = {
        r[0] for r in _rows(db, "SELECT full_name FROM repositories WHERE deleted_at IS NOT NULL")
    }
    assert gone == {r.full_name for r in world.repositories.values() if r.is_private}
