"""Issue 14: refs in one list, and the small settings lists on a cadence (no-op economy)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import dbstate
import httpx
import pytest
from mirror import TOKEN, Harness, differences

from bbmirror import status
from bbmirror.config import ConfigError, load_config
from bbmirror.engine import Options
from bbmirror.flavours.cloud.cadence import SETTINGS
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.common.transport import SimulatorTransport

SETTINGS_PATHS = ("/milestones", "/versions", "/components", "/default-reviewers")


def _get(app, path: str, params: dict | None = None) -> dict:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=SimulatorTransport(app), base_url="http://bitbucket.test"
        ) as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            return await client.get(path, headers=headers, params=params)

    response = asyncio.run(go())
    assert response.status_code == 200, response.text
    return response.json()


def _walk(app, path: str, pagelen: int) -> list[dict]:
    values, page = [], 1
    while True:
        body = _get(app, path, {"pagelen": pagelen, "page": page})
        values += body["values"]
        if "next" not in body:
            return values
        page += 1


def _settings_reads(harness: Harness) -> list[str]:
    return [r.path for r in harness.log if r.path.endswith(SETTINGS_PATHS)]


def _age(db: str, hours: float) -> None:
    """Move every settings list's last read ``hours`` into the past."""
    conn = sqlite3.connect(db)
    with conn:
        for scope, stream, extra in conn.execute(
            "select scope, stream, extra from sync_state where stream in (?, ?, ?, ?)", SETTINGS
        ).fetchall():
            data = json.loads(extra)
            stamp = data["refreshed_at"]
            earlier = datetime.fromisoformat(stamp) - timedelta(hours=hours)
            data["refreshed_at"] = earlier.isoformat()
            conn.execute(
                "update sync_state set extra = ?, updated_at = ? where scope = ? and stream = ?",
                (json.dumps(data), data["refreshed_at"], scope, stream),
            )
    conn.close()


# -- refs --------------------------------------------------------------------------------------


def test_the_simulator_lists_branches_and_tags_in_one_refs_list():
    world = generate(5, "tiny")
    repo = max(world.repositories.values(), key=lambda r: len(r.tags))
    assert repo.tags and len(repo.branches) + len(repo.tags) > 3
    app = Harness(world, "unused.db").app
    refs = _walk(app, f"/2.0/repositories/{repo.full_name}/refs", pagelen=3)
    kinds = {(r["type"], r["name"]) for r in refs}
    assert kinds == {("branch", n) for n in repo.branches} | {("tag", n) for n in repo.tags}
    assert len(refs) == len(kinds)  # paged without repeats
    by_name = {(r["type"], r["name"]): r["target"]["hash"] for r in refs}
    assert all(by_name[("branch", n)] == h for n, h in repo.branches.items())
    assert all(by_name[("tag", n)] == t.target for n, t in repo.tags.items())


def test_a_sync_reads_refs_once_per_repository_and_tombstones_a_deleted_tag(tmp_path):
    world = generate(5, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    refs = [r.path for r in harness.log if "/refs" in r.path]
    assert sorted(refs) == sorted(
        f"/2.0/repositories/{r.full_name}/refs" for r in world.repositories.values()
    )
    repo = max(world.repositories.values(), key=lambda r: len(r.tags))
    name = sorted(repo.tags)[0]
    del repo.tags[name]
    assert harness.sync().outcome == "ok"
    assert differences(world, harness.db) == []
    assert dbstate.alive(harness.db, "tags")[f"{repo.uuid}/tag/{name}"] is False


# -- the settings cadence ----------------------------------------------------------------------


def test_settings_lists_are_read_once_a_day_and_on_full_and_reconcile(tmp_path):
    world = generate(5, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    assert _settings_reads(harness)  # a first sync reads them
    harness.log.clear()
    harness.sync()
    assert _settings_reads(harness) == []
    assert len(harness.log) == CLOUD_PLAN.no_op_requests(world)
    _age(harness.db, 23)
    harness.log.clear()
    harness.sync()
    assert _settings_reads(harness) == []  # younger than a day
    _age(harness.db, 2)
    harness.log.clear()
    harness.sync()
    trackers = [r for r in world.repositories.values() if r.has_issues]
    assert len(_settings_reads(harness)) == 3 * len(trackers) + len(world.repositories)
    for options in (Options(full=True), Options(reconcile=True)):
        harness.log.clear()
        harness.sync(options)
        assert len(_settings_reads(harness)) == 3 * len(trackers) + len(world.repositories)


def test_a_new_milestone_shows_after_the_cadence_and_a_zero_cadence_reads_every_run(tmp_path):
    world = generate(5, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo = next(r for r in world.repositories.values() if r.milestones)
    gone = repo.milestones.pop(next(iter(repo.milestones)))
    harness.sync()
    assert differences(world, harness.db) != []  # at most a day old, as the README says
    harness.log.clear()
    harness.sync(settings_every=0)
    assert len(_settings_reads(harness)) > 0
    assert differences(world, harness.db) == []
    named = "select count(*) from milestones where name = ? and repository_id = ?"
    assert dbstate.count(harness.db, f"{named} and deleted_at is not null", gone.name, repo.uuid)


def test_status_shows_how_old_the_settings_lists_are(tmp_path):
    world = generate(5, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    _age(harness.db, 5)
    shown = status.render(status.collect(harness.db))
    for name in SETTINGS:
        lines = [line for line in shown.splitlines() if line.startswith(f"    {name} ")]
        assert lines and all("5 h old, every 24 h" in line for line in lines), name


def test_settings_every_is_read_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_TOKEN", "x" * 20)
    path = Path(tmp_path / "c.toml")
    path.write_text('[[source]]\nname = "acme"\ncredentials = "ACME"\nsettings_every = "6h"\n')
    assert load_config(path)[0].settings_every == 6 * 3600
    path.write_text('[[source]]\nname = "acme"\ncredentials = "ACME"\nsettings_every = "soon"\n')
    with pytest.raises(ConfigError, match="acme|source #1"):
        load_config(path)


def test_the_plans_no_op_count_is_exact_when_refs_fill_several_pages(tmp_path):
    world = generate(5, "tiny")
    repo = next(iter(world.repositories.values()))
    head = next(iter(repo.branches.values()))
    for n in range(150):  # 150 more branches: the refs list takes two pages
        repo.branches[f"topic/many-{n:03d}"] = head
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    harness.log.clear()
    summary = harness.sync()
    assert summary.requests == len(harness.log) == CLOUD_PLAN.no_op_requests(world)
    assert len([r for r in harness.log if r.path.endswith(f"{repo.full_name}/refs")]) == 2
