"""`bbmirror sync` from the command line against a simulator on a loopback port.

Every bad input gives one clear line, a non-zero exit code and an untouched database.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dbstate
import pytest
from click.testing import CliRunner
from conftest import copy_database
from mirror import TOKEN

from bbmirror.cli import cli
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.store.db import Store


@pytest.fixture(scope="module")
def simulator():
    world = generate(21, "tiny")
    config = SimulatorConfig(tokens={TOKEN: viewer_uuid(world)})
    with RunningSimulator(world, config) as running:
        yield running


@pytest.fixture(scope="module")
def one_sync(tmp_path_factory, simulator) -> Path:
    """One good sync per module, copied by `mirrored` (a sync is a second of CPU)."""
    db = tmp_path_factory.mktemp("cli-sync") / "mirror.db"
    result = _sync(simulator, db)
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def mirrored(tmp_path, one_sync):
    """A database holding one good sync, and a fingerprint to prove it stays untouched."""
    return copy_database(one_sync, tmp_path)


def _sync(simulator, db, *args, token=TOKEN, base_url=None):
    workspace = next(iter(simulator.world.workspaces))
    env = {"BITBUCKET_TOKEN": token, "BITBUCKET_EMAIL": None, "BITBUCKET_API_TOKEN": None}
    return CliRunner().invoke(
        cli,
        ["sync", str(db), "--base-url", base_url or simulator.base_url, *args]
        + ([] if "--config" in args or "--repo" in args else ["--workspace", workspace]),
        env=env,
    )


def _fingerprint(db: Path) -> dict[str, str]:
    """Hashes of the database and its sidecar files (WAL included); see also `_content`."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db.parent.iterdir())
        if p.name.startswith(db.name) and not p.name.endswith(".lock")
    }


def _failed_run_only(db: Path, before: dict, runs_before: list) -> str:
    """The database holds the same rows plus one failed run; return its message."""
    assert dbstate.content(db) == before
    runs = dbstate.runs(db)
    assert runs[:-1] == runs_before and runs[-1][0] == "failed", runs
    return runs[-1][1]


def _one_line_error(result) -> str:
    assert result.exit_code not in (0, None), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_sync_prints_a_one_line_summary(tmp_path, simulator):
    result = _sync(simulator, tmp_path / "m.db")
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    assert "repositories" in result.output and "requests" in result.output


def test_json_summary(tmp_path, simulator):
    result = _sync(simulator, tmp_path / "m.db", "--json")
    body = json.loads(result.stdout)
    assert body["outcome"] == "ok" and body["error"] is None
    summary = body["runs"][0]
    assert summary["outcome"] == "ok"
    assert summary["rows"]["pullrequests"] == sum(
        len(r.pullrequests) for r in simulator.world.repositories.values()
    )


def test_missing_directory(tmp_path, simulator):
    line = _one_line_error(_sync(simulator, tmp_path / "nowhere" / "m.db"))
    assert "nowhere" in line
    assert not (tmp_path / "nowhere").exists()


def test_read_only_database(mirrored, simulator):
    before = _fingerprint(mirrored)
    mirrored.chmod(0o444)
    try:
        line = _one_line_error(_sync(simulator, mirrored))
    finally:
        mirrored.chmod(0o644)
    assert "read-only" in line
    assert _fingerprint(mirrored) == before


def test_database_locked_by_another_sync(mirrored, simulator):
    before = _fingerprint(mirrored)
    holder = Store.open(mirrored)
    holder.acquire_writer_lock()
    try:
        line = _one_line_error(_sync(simulator, mirrored))
    finally:
        holder.close()
    assert "another bbmirror" in line
    assert _fingerprint(mirrored) == before


def test_not_a_database(tmp_path, simulator):
    db = tmp_path / "notes.db"
    db.write_text("shopping list\n")
    line = _one_line_error(_sync(simulator, db))
    assert "not" in line and "database" in line
    assert db.read_text() == "shopping list\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[[source]\nname = 1", "not valid TOML"),
        ("title = 'no sources'", "no [[source]]"),
        ("[[source]]\nkind = 'gitlab'", "kind must be"),
        ("[[source]]\nbudget = -5", "budget must be"),
        ("[[source]]\nevery = 'soon'", "duration"),
        ("[[source]]\ncolour = 'blue'", "unknown key 'colour'"),
    ],
)
def test_malformed_config(tmp_path, mirrored, simulator, text, expected):
    config = tmp_path / "bbmirror.toml"
    config.write_text(text)
    before = _fingerprint(mirrored)
    result = CliRunner().invoke(
        cli, ["sync", str(mirrored), "--config", str(config)], env={"BITBUCKET_TOKEN": TOKEN}
    )
    assert expected in _one_line_error(result)
    assert _fingerprint(mirrored) == before


def test_config_file_with_include_and_exclude(tmp_path, simulator):
    world = simulator.world
    repos = sorted(r.full_name for r in world.repositories.values())
    config = tmp_path / "bbmirror.toml"
    config.write_text(
        f"""
[[source]]
name = "sim"
base_url = "{simulator.base_url}"
workspaces = {json.dumps(sorted(world.workspaces))}
exclude = ["{repos[0]}"]
credentials = "SIM"
budget = 100000
"""
    )
    db = tmp_path / "m.db"
    result = CliRunner().invoke(
        cli, ["sync", str(db), "--config", str(config), "--json"], env={"SIM_TOKEN": TOKEN}
    )
    assert result.exit_code == 0, result.output
    store = Store.open(db)
    try:
        names = {row[0] for row in store.conn.execute("select full_name from repositories")}
        synced = {
            row[0]
            for row in store.conn.execute(
                "select distinct r.full_name from pullrequests p"
                " join repositories r on r.id = p.repository_id"
            )
        }
        sources = {row[0] for row in store.conn.execute("select distinct source from pullrequests")}
    finally:
        store.close()
    assert set(repos) == names  # every repository is listed...
    assert repos[0] not in synced  # ...but the excluded one is not mirrored
    assert sources == {"sim"}


def test_secret_absent_from_output_even_with_debug(tmp_path, simulator):
    result = _sync(simulator, tmp_path / "m.db", "--debug", token="wrong-" + TOKEN)
    assert result.exit_code != 0
    assert TOKEN not in result.output
