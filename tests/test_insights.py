"""Cloud code insights (issue 15): transform, simulator, which commits are asked, incremental."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import httpx
from mirror import BASE, TOKEN, Harness

from bbmirror.engine import Options
from bbmirror.flavours.cloud.rows_insights import annotation, report
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.insights import (
    add_report,
    candidates,
    finish_report,
    insight_differences,
)
from bbmirror.simulator.cloud.mutate_code import _protected, force_push, push_commits
from bbmirror.simulator.common.transport import SimulatorTransport

REPORT = {
    "type": "report",
    "uuid": "{r-1}",
    "external_id": "snyk-abc",
    "title": "Dependency scan",
    "details": "2 issues",
    "report_type": "SECURITY",
    "reporter": "Snyk",
    "result": "FAILED",
    "data": [{"title": "Duration", "type": "DURATION", "value": 1000}],
    "created_on": "2026-01-02T10:00:00.000000+00:00",
    "updated_on": "2026-01-02T11:00:00+01:00",
}
NOTE = {
    "type": "report_annotation",
    "uuid": "{a-1}",
    "annotation_type": "VULNERABILITY",
    "path": "src/app.py",
    "line": 12,
    "summary": "vulnerability found",
    "severity": "HIGH",
    "result": "FAILED",
}


def test_a_report_and_its_annotation_become_rows_keyed_by_commit_and_uuid():
    (row,) = report(REPORT, source="c", repository_id="{r}", commit_hash="abc")["insight_reports"]
    assert (row["id"], row["commit_id"], row["result"]) == (
        "{r}/abc/report/{r-1}",
        "{r}/abc",
        "FAILED",
    )
    assert row["updated_on"] == "2026-01-02T10:00:00.000000+00:00"
    rs = annotation(NOTE, source="c", repository_id="{r}", commit_hash="abc", report_id=row["id"])
    (note,) = rs["insight_annotations"]
    assert (note["id"], note["line"], note["severity"]) == (
        "{r}/abc/report/{r-1}/annotation/{a-1}",
        12,
        "HIGH",
    )


def _get(harness, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = SimulatorTransport(harness.app)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(BASE + path, headers={"Authorization": f"Bearer {TOKEN}"})

    return asyncio.run(go())


def test_the_simulator_lists_reports_and_annotations_by_uuid_or_external_id(mirrored, tmp_path):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))  # its own request log
    repo = next(r for r in harness.world.repositories.values() if r.reports)
    sha, made = next((s, m) for s, m in repo.reports.items() if any(r.annotations for r in m))
    path = f"/repositories/{repo.full_name}/commit/{sha}/reports"
    assert {v["uuid"] for v in _get(harness, path).json()["values"]} == {r.uuid for r in made}
    one = next(r for r in made if r.annotations)
    for ref in (one.uuid, one.external_id):
        listed = _get(harness, f"{path}/{ref}/annotations").json()["values"]
        assert [v["uuid"] for v in listed] == [a.uuid for a in one.annotations]
    assert (
        _get(harness, f"/repositories/{repo.full_name}/commit/{'0' * 40}/reports").status_code
        == 404
    )
    assert _get(harness, f"{path}/nope/annotations").status_code == 404


def _asked(log) -> list[str]:
    return [r.path for r in log if r.path.endswith("/reports")]


def test_a_full_sync_probes_every_repository_and_reads_only_where_reports_exist(mirrored):
    m = mirrored("cloud")
    world = m.harness.world
    assert insight_differences(world, m.db) == []
    asked = _asked(m.harness.log)
    for repo in world.repositories.values():
        mine = sorted(p.split("/commit/")[1].split("/")[0] for p in asked if f"/{repo.slug}/" in p)
        head = repo.branches[repo.mainbranch]
        assert mine == (sorted(candidates(repo)) if repo.reports else [head])
    assert any(r.reports for r in world.repositories.values())
    assert not all(r.reports for r in world.repositories.values())


def _results(db: str) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("select uuid, result from insight_reports"))
    finally:
        conn.close()


def test_new_heads_are_asked_once_pending_reports_until_they_finish(mirrored, tmp_path):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    world = harness.world
    rng = random.Random(3)
    with_reports = next(r for r in world.repositories.values() if r.reports)
    without = next(r for r in world.repositories.values() if not r.reports)
    for repo in (with_reports, without):
        push_commits(world, repo, repo.mainbranch, rng)
    head = with_reports.branches[with_reports.mainbranch]
    pending = add_report(world, with_reports, head, rng, result="PENDING")
    harness.log.clear()
    harness.sync_equal()
    assert insight_differences(world, harness.db) == []
    asked = _asked(harness.log)
    assert f"/{with_reports.slug}/commit/{head}/reports" in "".join(asked)
    assert f"/{without.slug}/commit/{without.branches[without.mainbranch]}/" in "".join(asked)
    assert _results(harness.db)[pending.uuid] == "PENDING"
    finish_report(world, pending, "PASSED")
    harness.sync_equal()
    assert insight_differences(world, harness.db) == []
    assert _results(harness.db)[pending.uuid] == "PASSED"
    for made in world.repositories.values():  # nothing pending is left: a no-op asks nothing
        for reports in made.reports.values():
            for r in reports:
                if r.result == "PENDING":
                    finish_report(world, r, "FAILED")
    harness.sync_equal()
    assert insight_differences(world, harness.db) == []
    harness.log.clear()
    harness.sync_equal()
    assert insight_differences(world, harness.db) == []
    assert _asked(harness.log) == []


def test_a_report_pending_for_over_a_day_is_not_read_again(mirrored, tmp_path):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    world = harness.world
    repo = next(r for r in world.repositories.values() if r.reports)
    push_commits(world, repo, repo.mainbranch, random.Random(5))
    head = repo.branches[repo.mainbranch]
    stuck = add_report(world, repo, head, random.Random(6), result="PENDING")
    harness.sync_equal()
    assert insight_differences(world, harness.db) == []
    world.tick(2 * 24 * 3600)  # the tool never finishes
    harness.log.clear()
    harness.sync_equal()
    assert insight_differences(world, harness.db) == []
    assert _asked(harness.log) == [], "a stuck report costs a request a run"
    finish_report(world, stuck, "PASSED")
    harness.sync_equal(Options(reconcile=True))
    assert insight_differences(world, harness.db) == []
    assert _results(harness.db)[stuck.uuid] == "PASSED"


def test_reports_of_a_force_pushed_away_commit_are_tombstoned_with_it(mirrored, tmp_path):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    world = harness.world
    repo, pr = next(
        (r, p)
        for r in world.repositories.values()
        for p in sorted(r.pullrequests.values(), key=lambda p: p.id)
        if p.state == "OPEN"
        and r.reports.get(p.source_commit)
        and p.source_branch in r.branches
        and not _protected(r, p.source_branch)
        and r.commits[p.source_commit].parents
    )
    old = pr.source_commit
    made = [x.uuid for x in repo.reports[old]]
    force_push(world, repo, pr.source_branch, random.Random(7))
    assert old not in repo.commits and old not in repo.reports
    harness.sync_equal()
    assert insight_differences(world, harness.db) == []
    conn = sqlite3.connect(harness.db)
    try:
        sql = "select count(*) from insight_reports where uuid = ? and deleted_at is not null"
        assert all(conn.execute(sql, (u,)).fetchone()[0] == 1 for u in made)
    finally:
        conn.close()


def test_reports_of_a_commit_that_stopped_being_a_head_before_the_first_run_are_not_read(
    tmp_path,
):
    """The price of asking only about heads (a known limit, like build statuses)."""
    world = generate(11, "tiny")
    repo, pr = next(
        (r, p)
        for r in world.repositories.values()
        for p in r.pullrequests.values()
        if p.state == "OPEN" and r.reports.get(p.source_commit)
    )
    push_commits(world, repo, pr.source_branch, random.Random(8))  # CI not run yet
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    missing = insight_differences(world, harness.db)
    assert missing and all(pr.source_commit not in m for m in missing)
