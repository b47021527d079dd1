"""`bbmirror status`: the table and the JSON agree with what the database holds."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from mirror import Harness

from bbmirror.cli import cli
from bbmirror.simulator.cloud.generate import generate
from bbmirror.status import collect
from bbmirror.store.db import Store

# One xdist worker runs the whole module (scripts/test: --dist loadgroup): one fixture per run.
pytestmark = pytest.mark.xdist_group("status")


# Session, not module: xdist interleaves modules, and a module fixture is made again each
# time its worker comes back to the module.
@pytest.fixture(scope="session")
def mirror(tmp_path_factory) -> str:
    """A tiny world synced twice, plus one quarantined record naming a repository."""
    db = str(tmp_path_factory.mktemp("status") / "mirror.db")
    h = Harness(generate(8, "tiny"), db)
    h.sync()
    h.sync()
    with Store.open(db) as store:
        repo = store.conn.execute("SELECT full_name FROM repositories ORDER BY 1").fetchone()[0]
        payload = json.dumps({"url": f"https://x/2.0/repositories/{repo}/pullrequests", "n": 1})
        store.record_error(2, "cloud", "pullrequests", "BadPayload: not JSON", payload)
    return db


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["status", *args])
    assert result.exit_code == 0, result.output
    return result.output


def query(db: str, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def test_json_matches_the_database(mirror):
    report = json.loads(run(mirror, "--json"))
    (src,) = report["sources"]
    assert src["name"] == "cloud" and src["runs"] == 2
    last_id, finished, requests = query(
        mirror, "SELECT id, finished_at, requests FROM sync_runs ORDER BY id DESC LIMIT 1"
    )[0]
    assert src["last_run"]["id"] == last_id and src["last_run"]["outcome"] == "ok"
    assert src["last_success"] == finished and src["last_run"]["requests"] == requests
    total = query(mirror, "SELECT sum(requests) FROM sync_runs")[0][0]
    assert src["requests_last_hour"] == total > 0
    assert (src["budget"], src["budget_from"]) == (1000, "default")
    assert src["errors"] == 1 and src["last_error"]["reason"] == "BadPayload: not JSON"

    repos = {r["full_name"]: r for r in src["repositories"]}
    assert set(repos) == {r[0] for r in query(mirror, "SELECT full_name FROM repositories")}
    for repo in repos.values():
        for table in ("pullrequests", "commits", "branches", "comments"):
            (n,) = query(
                mirror,
                f"SELECT count(*) FROM {table} WHERE repository_id = ? AND deleted_at IS NULL",
                repo["id"],
            )[0]
            assert repo["rows"].get(table, 0) == n
        state = {
            s: (w, u)
            for s, w, u in query(
                mirror,
                "SELECT stream, watermark, updated_at FROM sync_state WHERE scope = ?",
                repo["id"],
            )
        }
        assert {s["stream"]: (s["watermark"], s["synced_at"]) for s in repo["streams"]} == state
    errored = [r for r in repos.values() if r["last_error"]]
    assert len(errored) == 1 and errored[0]["full_name"] == min(repos)
    stream = next(s for s in errored[0]["streams"] if s["stream"] == "pullrequests")
    assert stream["last_error"]["reason"] == "BadPayload: not JSON"
    assert src["last_source_error"] is None  # it belongs to the repository


def test_table_shows_the_same_facts(mirror):
    report = collect(mirror)
    text = run(mirror)
    src = report["sources"][0]
    assert f"#{src['last_run']['id']} ok" in text
    assert f"{src['requests_last_hour']} in the last hour of a 1000/hour budget (default" in text
    assert "1 quarantined; last" in text and "pullrequests: BadPayload: not JSON" in text
    for repo in src["repositories"]:
        assert f"  {repo['full_name']}\n" in text
        for table, n in repo["rows"].items():
            assert f"{table} {n}" in text
        for stream in repo["streams"]:
            if stream["watermark"]:
                assert stream["watermark"][:19].replace("T", " ") in text


def test_budget_comes_from_the_config(mirror, tmp_path):
    config = tmp_path / "bbmirror.toml"
    config.write_text('[[source]]\nname = "cloud"\nbudget = 250\nworkspaces = ["acme"]\n')
    src = json.loads(run(mirror, "--config", str(config), "--json"))["sources"][0]
    assert (src["budget"], src["budget_from"]) == (250, "config")
    assert src["base_url"] == "https://api.bitbucket.org/2.0"
    assert "of a 250/hour budget\n" in run(mirror, "--config", str(config))


def test_status_reads_while_a_sync_holds_the_writer_lock(mirror):
    writer = Store.open(mirror)
    writer.acquire_writer_lock()
    try:
        with writer.transaction():
            run_id = writer.start_run("cloud", {})  # a write transaction is open right now
            report = collect(mirror)
    finally:
        writer.close()
    assert report["sources"][0]["runs"] >= 2
    assert run_id not in {None, 0}


@pytest.mark.slow
def test_a_killed_run_is_reported_abandoned(tmp_path):
    db = str(tmp_path / "m.db")
    with Store.open(db) as store:
        run_id = store.start_run("cloud", {})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True).stdout.strip()  # fmt: skip
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sync_runs SET pid = ? WHERE id = ?", (int(dead), run_id))
    last = collect(db)["sources"][0]["last_run"]
    assert last["outcome"] == "running" and last["abandoned"] is True
    assert f"abandoned (pid {dead} is gone" in run(db)
    with sqlite3.connect(db) as conn:  # a live process: the run is simply still going
        conn.execute("UPDATE sync_runs SET pid = ? WHERE id = ?", (os.getpid(), run_id))
    assert collect(db)["sources"][0]["last_run"]["abandoned"] is False
    assert f"running (pid {os.getpid()})" in run(db)


def test_a_missing_database_is_one_line_and_exit_1(tmp_path):
    result = CliRunner().invoke(cli, ["status", str(tmp_path / "nope.db")])
    assert result.exit_code == 1
    assert "does not exist" in result.output and len(result.output.strip().splitlines()) == 1
