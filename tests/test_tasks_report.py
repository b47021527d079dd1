"""Report 182, tasks open at merge: every number computed again from the simulator's world."""

from __future__ import annotations

import random
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from reportrun import ts

from bbmirror.reports import load_metadata
from bbmirror.simulator.cloud.tasks import task_activity

QUERY = load_metadata()["databases"]["bitbucket"]["queries"]["tasks_open_at_merge"]


def report(db: str, **params: str) -> list[dict]:
    values = {p: "" for p in QUERY["params"]} | params
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(QUERY["sql"], values)]
    finally:
        conn.close()


def merged_on(pr) -> str | None:
    """The first update entry that moved the PR to MERGED (what pullrequests.closed_on holds)."""
    if pr.state != "MERGED":
        return None
    dates = [a.date for a in pr.activity if a.kind == "update" and a.data.get("state") == "MERGED"]
    return min(dates, key=ts)


def expected(world, repository: str = "", since: str = "", until: str = "") -> dict:
    """(repository, month) -> [merged, merged with open tasks, open tasks], from the world."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for repo in world.repositories.values():
        if repository and repo.full_name != repository:
            continue
        for pr in repo.pullrequests.values():
            when = merged_on(pr)
            day = ts(when).date().isoformat() if when else ""
            if not when or (since and day < since) or (until and day > until):
                continue
            merge = ts(when)
            open_ = [
                t
                for t in pr.tasks
                if ts(t.created_on) <= merge
                and (t.resolved_on is None or ts(t.resolved_on) > merge)
            ]
            row = out[repo.full_name, merge.strftime("%Y-%m")]
            row[0] += 1
            row[1] += bool(open_)
            row[2] += len(open_)
    return dict(out)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, mirrored):
    """The small Cloud mirror, copied, after task activity and an incremental sync."""
    harness = mirrored("cloud").copy(str(tmp_path_factory.mktemp("tasks") / "m.db"))
    task_activity(harness.world, random.Random(8), 60)
    harness.sync_equal()
    return harness


@pytest.mark.parametrize("filtered", [False, True])
def test_tasks_open_at_merge_equal_the_world(mirror, filtered):
    world = mirror.world
    repository = max(world.repositories.values(), key=lambda r: len(r.pullrequests)).full_name
    params = {"repository": repository, "since": "2025-01-01", "until": "2025-09-30"}
    want = expected(world, **params) if filtered else expected(world)
    rows = report(mirror.db, **params) if filtered else report(mirror.db)
    have = {
        (r["repository"], r["month"]): [
            r["merged"],
            r["merged_with_open_tasks"],
            r["open_tasks"],
        ]
        for r in rows
    }
    assert have == want
    if not filtered:  # the edges of the definition occur: current state is not the answer
        merged = [
            (p, ts(merged_on(p)))
            for r in world.repositories.values()
            for p in r.pullrequests.values()
            if merged_on(p)
        ]
        tasks = [(t, m) for p, m in merged for t in p.tasks]
        assert any(t.resolved_on and ts(t.resolved_on) > m for t, m in tasks)
        assert any(ts(t.created_on) > m for t, m in tasks)
    assert sum(v[1] for v in want.values()) > 0  # the world has tasks open at merge
    assert sum(v[1] for v in want.values()) < sum(v[0] for v in want.values())
    for r in rows:
        share = round(100.0 * r["merged_with_open_tasks"] / r["merged"], 1)
        assert r["percent_with_open_tasks"] == share
    assert [r["month"] for r in rows] == sorted((r["month"] for r in rows), reverse=True)


def dc_expected(world) -> dict:
    """The same from a Data Center world: tasks are its visible BLOCKER comments."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for repo in world.repositories.values():
        name = f"{world.projects[repo.project_id].key}/{repo.slug}"
        for pr in repo.pull_requests.values():
            merges = [a.created for a in pr.activities if a.action == "MERGED"]
            if pr.state != "MERGED" or not merges:
                continue
            merge = min(merges)
            open_ = [
                c
                for c in pr.all_comments()
                if c.severity == "BLOCKER"
                and c.created <= merge
                and (c.state != "RESOLVED" or (c.resolved is not None and c.resolved > merge))
            ]
            month = datetime.fromtimestamp(merge / 1000, UTC).strftime("%Y-%m")
            row = out[name, month]
            row[0] += 1
            row[1] += bool(open_)
            row[2] += len(open_)
    return dict(out)


def test_data_center_tasks_open_at_merge_equal_the_world(mirrored):
    m = mirrored("server")
    have = {
        (r["repository"], r["month"]): [r["merged"], r["merged_with_open_tasks"], r["open_tasks"]]
        for r in report(m.db)
    }
    want = dc_expected(m.harness.world)
    assert have == want
    assert 0 < sum(v[1] for v in want.values()) < sum(v[0] for v in want.values())
