"""Cloud Pipelines (issue 15): the simulator serves runs as the field does, the mirror reads them
newest first down to what it holds, steps once a run is COMPLETED, and remembers repositories
that never ran a pipeline."""

from __future__ import annotations

import asyncio
import math
import random

import httpx
import pytest
from dbstate import count
from mirror import TOKEN, Harness

from bbmirror.engine import Options
from bbmirror.flavours.cloud.plan import _reachable
from bbmirror.flavours.cloud.rows_pipelines import pipeline, pipeline_step
from bbmirror.rows import RowError
from bbmirror.simulator.cloud import pipelines as sim_pipelines
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.common.clock import MINUTE, US, to_us
from bbmirror.simulator.common.transport import SimulatorTransport


def _get(app, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=SimulatorTransport(app), base_url="http://bitbucket.test"
        ) as client:
            return await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})

    return asyncio.run(go())


def _lists(harness: Harness, repo) -> list:
    return [r for r in harness.log if r.path.endswith(f"/{repo.full_name}/pipelines")]


def _steps(harness: Harness) -> list:
    return [r for r in harness.log if r.path.endswith("/steps")]


def _with_pipelines(world):
    return [r for r in world.repositories.values() if r.pipelines]


# -- rows ----------------------------------------------------------------------------------


def test_a_pull_request_run_and_its_step_become_rows():
    obj = {
        "type": "pipeline",
        "uuid": "{p-1}",
        "build_number": 42,
        "creator": {"type": "user", "uuid": "{u-1}", "display_name": "Ann"},
        "target": {
            "type": "pipeline_pullrequest_target",
            "source": "feature/x",
            "destination": "main",
            "commit": {"type": "commit", "hash": "abc123"},
            "pullrequest": {"type": "pullrequest", "id": 7},
        },
        "trigger": {"type": "pipeline_trigger_push"},
        "state": {
            "name": "COMPLETED",
            "type": "pipeline_state_completed",
            "result": {"name": "FAILED", "type": "pipeline_state_completed_failed"},
        },
        "created_on": "2024-01-15T10:30:00Z",
        "completed_on": "2024-01-15T10:35:30.5+00:00",
        "build_seconds_used": 300,
    }
    rows = pipeline(obj, source="cloud", repository_id="{r}")
    [row] = rows["pipelines"]
    assert row["id"] == "{r}/pipeline/{p-1}"
    assert (row["state"], row["result"], row["target_type"], row["ref_name"]) == (
        "COMPLETED",
        "FAILED",
        "pullrequest",
        "feature/x",
    )
    assert (row["commit_id"], row["pullrequest_id"], row["trigger"]) == (
        "{r}/abc123",
        "{r}/pr/7",
        "PUSH",
    )
    assert (row["creator_id"], row["duration_seconds"]) == ("{u-1}", 330)
    assert row["completed_on"] == "2024-01-15T10:35:30.500000+00:00"
    assert rows["users"][0]["id"] == "{u-1}"
    step = {"uuid": "{s-1}", "name": "Build", "state": {"name": "PENDING"}}
    [srow] = pipeline_step(step, source="cloud", repository_id="{r}", pipeline_id=row["id"])[
        "pipeline_steps"
    ]
    assert (srow["pipeline_id"], srow["state"], srow["started_on"]) == (row["id"], "PENDING", None)
    with pytest.raises(RowError):
        pipeline({"build_number": 1}, source="cloud", repository_id="{r}")


# -- the simulator, as the field answers -----------------------------------------------------


def test_the_list_is_oldest_first_paged_by_number_without_next_and_sorts_only_known_fields(
    tmp_path,
):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    repo = _with_pipelines(harness.world)[0]
    base = f"/2.0/repositories/{repo.full_name}/pipelines/"
    body = _get(harness.app, base + "?pagelen=2").json()
    assert set(body) == {"page", "pagelen", "size", "values"}  # no `next` (BCLOUD-20639)
    assert body["size"] == len(repo.pipelines)
    assert [v["build_number"] for v in body["values"]] == [1, 2]
    newest = _get(harness.app, base + "?sort=-created_on&pagelen=100").json()["values"]
    assert [v["build_number"] for v in newest] == sorted(
        (p.build_number for p in repo.pipelines), reverse=True
    )
    refused = _get(harness.app, base + "?sort=-completed_on")
    assert refused.status_code == 400 and "completed_on" in refused.text
    run = repo.pipelines[0]
    steps = _get(harness.app, f"{base}{run.uuid}/steps/").json()
    assert [s["name"] for s in steps["values"]] == [s.name for s in run.steps]
    idle = next(r for r in harness.world.repositories.values() if not r.pipelines)
    empty = _get(harness.app, f"/2.0/repositories/{idle.full_name}/pipelines/").json()
    assert (empty["size"], empty["values"]) == (0, [])


# -- the mirror -----------------------------------------------------------------------------


def test_a_full_sync_mirrors_runs_and_the_steps_of_completed_runs(mirrored):
    harness = mirrored("cloud", "small").harness
    world = harness.world
    runs = sum(len(r.pipelines) for r in world.repositories.values())
    done = [p for r in world.repositories.values() for p in r.pipelines if p.state == "COMPLETED"]
    assert 0 < len(done) < runs  # some runs are still pending or in progress
    assert count(harness.db, "select count(*) from pipelines") == runs
    steps = sum(len(p.steps) for p in done)
    assert count(harness.db, "select count(*) from pipeline_steps") == steps
    linked = "select count(*) from pipelines p join pullrequests r on r.id = p.pullrequest_id"
    assert (
        count(harness.db, linked)
        == sum(
            p.pullrequest_id is not None for r in world.repositories.values() for p in r.pipelines
        )
        > 0
    )
    to_commits = "select count(*) from pipelines p join commits c on c.id = p.commit_id"
    on_refs = sum(
        p.commit in _reachable(r) for r in world.repositories.values() for p in r.pipelines
    )
    assert count(harness.db, to_commits) == on_refs > 0  # runs of commits a ref still reaches
    assert harness.oracle(world, harness.db) == []


def test_runs_are_read_by_page_number_and_an_incremental_reads_one_page(tmp_path):
    world = generate(5, "tiny")
    repo = _with_pipelines(world)[0]
    rng = random.Random(1)
    sha = repo.branches[repo.mainbranch]
    start = to_us(repo.commits[sha].date)
    repo.pipelines = [
        sim_pipelines._run(
            rng, "branch", repo.mainbranch, sha, start + i * MINUTE, "PUSH", None, None
        )
        for i in range(230)
    ]
    for number, run in enumerate(repo.pipelines, 1):
        run.build_number = number
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    assert len(_lists(harness, repo)) == math.ceil(230 / 100)
    mirrored = f"select count(*) from pipelines where repository_id = '{repo.uuid}'"
    assert count(harness.db, mirrored) == 230
    world.tick(3600)
    sim_pipelines.advance(world)  # nothing new pushed: runs stay as they are
    run = sim_pipelines._run(
        rng, "branch", repo.mainbranch, sha, to_us(world.clock), "PUSH", None, None
    )
    run.build_number = 231
    repo.pipelines.append(run)
    harness.log.clear()
    harness.sync_equal()
    assert len(_lists(harness, repo)) == 1
    mine = [r for r in _steps(harness) if f"/{repo.full_name}/" in r.path]
    assert [r.path.split("/")[-2] for r in mine] == [run.uuid]  # only the new run's steps


def test_a_run_that_completes_is_read_again_and_its_steps_once(tmp_path):
    world = generate(1, "tiny")
    repo = next(r for r in _with_pipelines(world) if r.pipelines[-1].state != "COMPLETED")
    run = repo.pipelines[-1]
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    assert not [r for r in _steps(harness) if run.uuid in r.path]
    for _ in range(2):  # PENDING → IN_PROGRESS → COMPLETED
        world.tick(600)
        sim_pipelines.advance(world)
    assert run.state == "COMPLETED"
    harness.log.clear()
    harness.sync_equal()
    assert [r.path for r in _steps(harness)] == [
        f"/2.0/repositories/{repo.full_name}/pipelines/{run.uuid}/steps"
    ]
    harness.log.clear()
    harness.sync_equal()
    assert _steps(harness) == [] and len(_lists(harness, repo)) == 1


def test_a_repository_without_pipelines_is_asked_once_then_on_the_cadence(tmp_path):
    world = generate(5, "tiny")
    idle = next(r for r in world.repositories.values() if not r.pipelines)
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    assert len(_lists(harness, idle)) == 1
    harness.log.clear()
    harness.sync_equal()
    assert _lists(harness, idle) == []  # remembered: no request
    harness.log.clear()
    harness.sync_equal(Options(reconcile=True))
    assert len(_lists(harness, idle)) == 1
    harness.log.clear()
    harness.sync(settings_every=0)
    assert len(_lists(harness, idle)) == 1  # a zero cadence asks every run


def test_a_token_without_the_pipeline_scope_skips_pipelines_once(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    summary = harness.sync_narrowed("account", "pullrequest", "issue", "project")
    assert summary.errors == 0
    refused = [r for r in harness.log if "/pipelines" in r.path]
    assert [r.status for r in refused] == [403]  # the family is skipped after the first 403
    assert count(harness.db, "select count(*) from pipelines") == 0


def test_steps_times_lie_within_their_runs():
    world = generate(1, "small")
    for repo in world.repositories.values():
        for run in repo.pipelines:
            for step in run.steps:
                if step.started_on:
                    assert to_us(run.created_on) <= to_us(step.started_on)
                if step.completed_on and run.completed_on:
                    assert to_us(step.completed_on) <= to_us(run.completed_on) + US
            if run.state == "COMPLETED":
                assert run.build_seconds_used == sum(s.build_seconds_used for s in run.steps)


@pytest.mark.parametrize("status", [500, 404])
def test_a_steps_list_that_fails_stays_queued_unless_the_run_is_gone(tmp_path, status):
    world = generate(5, "tiny")
    repo = _with_pipelines(world)[0]
    run = next(p for p in repo.pipelines if p.state == "COMPLETED")
    steps = f"/2.0/repositories/{repo.full_name}/pipelines/{run.uuid}/steps"
    faults = {"failing_paths": (steps,), "failing_status": status}
    harness = Harness(world, str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync()
    assert summary.errors == 1 and summary.outcome == "partial"
    mine = f"select count(*) from pipeline_steps where pipeline_id like '%{run.uuid}'"
    assert count(harness.db, mine) == 0
    harness.app.state.faults.failing_paths = ()
    harness.log.clear()
    harness.sync()
    asked = [r.path for r in _steps(harness)]
    if status == 500:  # still queued: read now
        assert asked == [steps] and count(harness.db, mine) == len(run.steps)
    else:  # a 404: the run is gone, not asked again
        assert asked == [] and count(harness.db, mine) == 0
