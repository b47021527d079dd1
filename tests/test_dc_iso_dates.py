"""Data Center releases that send ISO-8601 times mirror like those that send epoch ms (12.5)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from dc_mirror import DcHarness

from bbmirror.simulator.server import render as dc_render
from bbmirror.simulator.server.generate import generate_dc


def _second(ms: int) -> str:
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.isoformat(timespec="microseconds")


def test_iso_dates_switch_mirrors_every_pr_with_nothing_quarantined(tmp_path):
    world = generate_dc(5, "tiny")  # every kind of dated row; size adds nothing here
    world.settings.iso_dates = True
    harness = DcHarness(world, str(tmp_path / "m.db"))
    repo = next(iter(world.repositories.values()))
    sample = next(iter(repo.pull_requests.values()))
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    conn = sqlite3.connect(harness.db)
    got = dict(conn.execute("select id, updated_on from pullrequests where deleted_at is null"))
    want = {
        f"dc/repo/{r.id}/pr/{pr.id}": _second(pr.updated)
        for r in world.repositories.values()
        for pr in r.pull_requests.values()
    }
    assert got == want
    assert conn.execute("select count(*) from comments").fetchone()[0]
    assert conn.execute("select count(*) from commits where date is null").fetchone()[0] == 0
    key = f"dc/repo/{repo.id}/pr/{sample.id}"
    created = conn.execute("select created_on from pullrequests where id = ?", (key,)).fetchone()
    assert created == (_second(sample.created),)


def test_iso_dates_switch_renders_text_times():
    world = generate_dc(5, "small")
    world.settings.iso_dates = True
    repo = next(iter(world.repositories.values()))
    pr = next(iter(repo.pull_requests.values()))
    doc = dc_render.pull_request(world, repo, pr, "http://x")
    assert isinstance(doc["createdDate"], str) and doc["createdDate"].endswith("+0000")
