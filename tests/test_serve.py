"""`bbmirror serve`: Datasette on a mirror with the bundled metadata, read-only, on loopback.

In-process checks use Datasette's own test client; the command itself runs as a real process
on a loopback port, once while a sync writes to the database and once with `--sync`.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from datasette.utils import tilde_encode
from mirror import Harness
from processes import launch, stop

from bbmirror.reports import SHIPPED_DB, load_metadata
from bbmirror.serve import TABLE_CONFIG_KEYS, make_datasette, split_config
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, simulator_config
from bbmirror.simulator.cloud.launch import Credentials as SimulatorCredentials
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.store.schema import MIGRATIONS

WAIT = 30.0
QUERIES = load_metadata()["databases"][SHIPPED_DB]["queries"]


# Session, not module: xdist interleaves modules, and a module fixture is made again each
# time its worker comes back to the module.
@pytest.fixture(scope="session")
def synced(tmp_path_factory, mirrored):
    """The session's full sync of a tiny Cloud world, copied to acme.db."""
    db = tmp_path_factory.mktemp("serve") / "acme.db"
    return mirrored("cloud", "tiny", seed=5).copy(str(db)).world, db


def fetch(ds, *paths: str) -> dict[str, httpx.Response]:
    async def main() -> dict[str, httpx.Response]:
        return {path: await ds.client.get(path) for path in paths}

    return asyncio.run(main())


def counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f"SELECT count(*) FROM [{n}]").fetchone()[0] for n in names}
    finally:
        conn.close()


def test_every_table_view_report_and_dashboard_answers_200(synced):
    _, db = synced
    ds = make_datasette(db)
    conn = sqlite3.connect(db)
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN "
            "('table', 'view') AND name NOT LIKE 'sqlite_%'"
        )
    ]
    conn.close()
    assert {"pullrequests", "pullrequest_metrics", "issue_metrics"} <= set(names)
    dashboards = load_metadata()["plugins"]["datasette-dashboards"]
    paths = ["/", "/acme", "/-/dashboards", "/-/search?q=test"]
    paths += [f"/acme/{n}" for n in names]
    paths += [f"/acme/{q}" for q in QUERIES] + [f"/acme/{q}.json" for q in QUERIES]
    for slug, dashboard in dashboards.items():
        paths.append(f"/-/dashboards/{slug}")
        paths += [f"/-/dashboards/{slug}/{chart}" for chart in dashboard["charts"]]
    pages = fetch(ds, *paths)
    bad = {p: r.status_code for p, r in pages.items() if r.status_code != 200}
    assert not bad
    index = pages["/acme"].text
    assert all(spec["title"] in index for spec in QUERIES.values())
    assert "Engineering overview" in pages["/-/dashboards"].text
    assert "Sync health" in pages["/-/dashboards"].text
    for q in QUERIES:  # reports answer with rows, not errors
        assert "rows" in pages[f"/acme/{q}.json"].json()


def test_metadata_labels_facets_search_markdown_and_folded_json(synced):
    world, db = synced
    ds = make_datasette(db)
    repo = next(r for r in world.repositories.values() if r.pullrequests)
    pr = max(repo.pullrequests.values(), key=lambda p: len(p.description))
    word = max(pr.title.split(), key=len)
    row = tilde_encode(f"{repo.uuid}/pr/{pr.id}")
    pages = fetch(
        ds,
        "/acme/pullrequests.json?_labels=on&_shape=objects&_size=5",
        "/acme/pullrequests.json?_size=0",
        f"/acme/pullrequests.json?_search={word}&_shape=objects",
        f"/acme/pullrequests/{row}",
        "/-/search?q=x",
        "/acme/issues.json?_size=0",
    )
    data = pages["/acme/pullrequests.json?_labels=on&_shape=objects&_size=5"].json()
    first = data["rows"][0]
    assert first["repository_id"]["label"] in {r.full_name for r in world.repositories.values()}
    assert first["author_id"]["label"] in {u.display_name for u in world.users.values()}
    updated = [r["updated_on"] for r in data["rows"]]
    assert updated == sorted(updated, reverse=True)  # sort_desc
    facets = pages["/acme/pullrequests.json?_size=0"].json()["facet_results"]
    assert {"state", "repository_id", "author_id"} <= set(facets)
    issue_facets = pages["/acme/issues.json?_size=0"].json()["facet_results"]
    assert {"state", "kind", "priority"} <= set(issue_facets)
    found = pages[f"/acme/pullrequests.json?_search={word}&_shape=objects"].json()["rows"]
    assert pr.title in {r["title"] for r in found}
    page = pages[f"/acme/pullrequests/{row}"].text
    assert '<details class="bbmirror-folded"><summary>JSON' in page
    assert "<p>" in page  # the markdown description is rendered
    search_all = pages["/-/search?q=x"].text
    for table in ("pullrequests", "issues", "comments", "commits"):
        assert f'"table": "{table}"' in search_all


def test_writes_are_refused(synced):
    _, db = synced
    ds = make_datasette(db)
    before = counts(db)
    attempts = [
        "DELETE FROM users",
        "UPDATE pullrequests SET title = 'x'",
        "INSERT INTO sync_runs (source) VALUES ('x')",
        "DROP TABLE users",
        "SELECT 1; DELETE FROM users",
        "WITH x AS (SELECT 1) DELETE FROM users",
        "PRAGMA writable_schema = 1",
    ]

    async def main() -> list[int]:
        codes = []
        for sql in attempts:
            for path in ("/acme", "/acme.json"):
                codes.append((await ds.client.get(path, params={"sql": sql})).status_code)
        codes.append((await ds.client.post("/acme/pr_cycle_time", data={})).status_code)
        codes.append((await ds.client.post("/acme/users/-/insert", json={})).status_code)
        return codes

    codes = asyncio.run(main())
    assert all(code >= 400 for code in codes), codes
    assert counts(db) == before
    ok = fetch(ds, "/acme.json?sql=select+count(*)+as+n+from+users&_shape=array")
    assert ok["/acme.json?sql=select+count(*)+as+n+from+users&_shape=array"].json() == [
        {"n": before["users"]}
    ]


def test_metadata_is_keyed_to_the_database_name():
    md = load_metadata("demo")
    assert list(md["databases"]) == ["demo"]
    for dashboard in md["plugins"]["datasette-dashboards"].values():
        assert {c["db"] for c in dashboard["charts"].values()} == {"demo"}
        assert {f["db"] for f in dashboard["filters"].values() if "query" in f} == {"demo"}
    assert not any(q.get("write") for q in md["databases"]["demo"]["queries"].values())


def test_datasette_1_configuration_form():
    """1.x reads queries, plugins and table options from config; metadata keeps descriptions."""
    original = load_metadata()
    metadata, config = split_config(original)
    db_md, db_cfg = metadata["databases"][SHIPPED_DB], config["databases"][SHIPPED_DB]
    assert (
        "queries" not in db_md and db_cfg["queries"] == original["databases"][SHIPPED_DB]["queries"]
    )
    assert "plugins" not in metadata and "datasette-dashboards" in config["plugins"]
    for name, table in original["databases"][SHIPPED_DB]["tables"].items():
        moved = {k: v for k, v in table.items() if k in TABLE_CONFIG_KEYS}
        assert db_cfg.get("tables", {}).get(name, {}) == moved
        kept = {k: v for k, v in table.items() if k not in TABLE_CONFIG_KEYS}
        assert db_md["tables"].get(name, {}) == kept
    render = db_cfg["tables"]["comments"]["plugins"]["datasette-render-markdown"]
    assert render["columns"] == ["body"] and "script" not in render["extra_tags"]
    assert db_md["tables"]["pullrequests"]["description"]
    assert metadata["title"] == original["title"]


def test_an_older_mirror_gains_the_report_views(tmp_path, monkeypatch):
    import bbmirror.store.schema as schema

    db = tmp_path / "old.db"
    with monkeypatch.context() as old:  # a mirror made before the report views existed
        old.setattr(schema, "MIGRATIONS", MIGRATIONS[:1])
        old.setattr(schema, "SCHEMA_VERSION", 1)
        conn = sqlite3.connect(db)
        schema.migrate(conn)
        conn.close()
    ds = make_datasette(db)
    pages = fetch(ds, "/old/pr_cycle_time.json", "/old/issue_metrics.json")
    assert {r.status_code for r in pages.values()} == {200}
    conn = sqlite3.connect(db)
    versions = [r[0] for r in conn.execute("SELECT version FROM _migrations")]
    conn.close()
    assert versions == [m.version for m in MIGRATIONS]


@pytest.mark.slow
def test_the_command_explains_what_is_wrong(tmp_path):
    missing = subprocess.run(
        [sys.executable, "-m", "bbmirror", "serve", str(tmp_path / "nope.db")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    bare = {k: v for k, v in os.environ.items() if not k.startswith("BITBUCKET_")}
    no_credentials = subprocess.run(
        [sys.executable, "-m", "bbmirror", "serve", str(tmp_path / "x.db"), "--sync"],
        capture_output=True,
        text=True,
        env=bare,
    )
    assert no_credentials.returncode == 1 and "BITBUCKET_TOKEN" in no_credentials.stderr
    flags_alone = subprocess.run(
        [sys.executable, "-m", "bbmirror", "serve", str(tmp_path / "x.db"), "--workspace", "a"],
        capture_output=True,
        text=True,
    )
    assert flags_alone.returncode == 2 and "--sync" in flags_alone.stderr
    assert not (tmp_path / "x.db").exists()


# -- the real command --------------------------------------------------------------------------


def start(args: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start `bbmirror serve ... --port 0` and return it with the URL it printed."""
    command = [sys.executable, "-m", "bbmirror", "serve", *args, "--port", "0"]
    return launch(command, r" at (http://\S+)", env)


@pytest.mark.slow
def test_serve_binds_loopback_and_answers_while_a_sync_writes(tmp_path):
    world = generate(6, "tiny")
    db = tmp_path / "live.db"
    harness = Harness(world, str(db))
    harness.sync()
    harness.app.state.faults.latency = 0.01  # a second sync that lasts a while
    proc, url = start([str(db)])
    try:
        assert url.startswith("http://127.0.0.1:")
        listening = [
            c.laddr for c in psutil.Process(proc.pid).net_connections() if c.status == "LISTEN"
        ]
        assert [a.ip for a in listening] == ["127.0.0.1"]
        random_activity(world, 60, random.Random(3))
        writer = threading.Thread(target=harness.sync)
        writer.start()
        paths = [
            "/live/pullrequests",
            "/live/pr_cycle_time",
            "/live/sync_runs.json",
            "/-/dashboards/engineering",
            "/live.json?sql=select+count(*)+from+comments",
        ]
        statuses = []
        while writer.is_alive() or not statuses:
            statuses += [httpx.get(url + p, timeout=10).status_code for p in paths]
        writer.join()
        runs = httpx.get(f"{url}/live/sync_runs.json?_shape=array", timeout=10).json()
        assert [r["outcome"] for r in runs] == ["ok", "ok"]
        assert set(statuses) == {200} and len(statuses) >= len(paths)
    finally:
        assert stop(proc) == 0


@pytest.mark.slow
def test_serve_with_sync_keeps_the_mirror_fresh(tmp_path):
    world = generate(8, "tiny")
    db = tmp_path / "fresh.db"
    config = tmp_path / "bbmirror.toml"
    sim_config = simulator_config(world, SimulatorCredentials(token=DEFAULT_TOKEN))
    with RunningSimulator(world, sim_config) as sim:
        workspaces = ", ".join(f'"{w}"' for w in sorted(world.workspaces))
        config.write_text(
            f'[[source]]\nname = "sim"\nbase_url = "{sim.base_url}"\n'
            f'workspaces = [{workspaces}]\ncredentials = "SIMTEST"\nevery = "1s"\n'
        )
        proc, url = start(
            [str(db), "--sync", "--config", str(config)],
            {"SIMTEST_TOKEN": DEFAULT_TOKEN, "BBMIRROR_MIN_EVERY": "1"},
        )
        try:

            def prs() -> set[str]:
                rows = httpx.get(
                    f"{url}/fresh/pullrequests.json?_shape=array&_col=title&_size=max", timeout=10
                ).json()
                return {r["title"] for r in rows}

            deadline = time.monotonic() + WAIT
            while len(prs()) < sum(len(r.pullrequests) for r in world.repositories.values()):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
            with sim.lock:
                repo = next(r for r in world.repositories.values() if r.pullrequests)
                pr = next(iter(repo.pullrequests.values()))
                pr.title, pr.updated_on = "Served while syncing", world.tick(5)
            while "Served while syncing" not in prs():
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        finally:
            code = stop(proc)
        output = proc.stdout.read()
    assert code == 0, output
    assert "Syncing sim on schedule" in output and DEFAULT_TOKEN not in output
    assert re.search(r"sim: ok in [\d.]+s, \d+ repositories", output), output  # a line per run
