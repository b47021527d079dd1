"""`status` shows what a first sync still has to read and when it is done (issue 14)."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

import pytest
from lying import Killed, lie_to
from mirror import Harness, differences

from bbmirror.simulator.cloud.generate import Size, generate
from bbmirror.status import collect, render
from bbmirror.status_backfill import estimate

CHILD = re.compile(r"/2\.0/repositories/[^/]+/[^/]+/pullrequests/(\d+)/\w+")


def test_a_first_sync_killed_after_its_lists_shows_the_backfill_and_its_eta(tmp_path):
    world = generate(
        4, Size(workspaces=1, users=10, repos=2, prs=120, issues=0, comments=200, commits=100)
    )
    harness = Harness(world, str(tmp_path / "m.db"))
    asked: set[int] = set()

    def rule(scope):
        found = CHILD.fullmatch(scope["path"])
        if found:
            asked.add(int(found.group(1)))
            if len(asked) > 30:  # the lists are in, one batch of children committed
                return "kill"
        return None

    proxy = lie_to(harness, rule)
    with pytest.raises(Killed):
        harness.sync(concurrency=1)
    source = collect(harness.db)["sources"][0]
    backfill = source["backfill"]
    # Every PR of both repositories is mirrored; most of their child lists are still queued.
    prs = sqlite3.connect(harness.db).execute("select count(*) from pullrequests").fetchone()[0]
    assert prs == sum(len(r.pullrequests) for r in world.repositories.values())
    assert prs - 30 <= backfill["parents"] < prs
    assert backfill["requests"] == sum(backfill["lists"].values()) >= backfill["parents"]
    assert backfill["hours"] == backfill["requests"] / source["budget"]
    line = next(
        x
        for x in render({"database": harness.db, "sources": [source]}).splitlines()
        if x.strip().startswith("backfill")
    )
    assert f"{backfill['requests']:,} lists still to read" in line
    assert f"{backfill['parents']:,} parents" in line

    proxy.rule = lambda scope: None
    assert harness.sync().outcome == "ok"
    after = collect(harness.db)["sources"][0]
    assert after["backfill"]["requests"] == 0
    assert "backfill" not in render({"database": harness.db, "sources": [after]})
    assert differences(world, harness.db) == []


def test_the_estimate_divides_what_is_queued_by_the_budget():
    moment = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    found = estimate(
        {"parents": 3, "lists": {"pr_activity": 1500, "pr_statuses": 500}}, 1000, moment
    )
    assert found["requests"] == 2000
    assert found["hours"] == 2.0
    assert found["done_by"].startswith("2026-11-29T10:00")
    assert estimate({"parents": 0, "lists": {}}, 1000, moment)["done_by"] is None
