"""Cloud deployments and environments (issue 15): transform, simulator, sync, incremental."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from dbstate import count
from mirror import BASE, TOKEN, Harness

from bbmirror.flavours.cloud import rows_deploys
from bbmirror.flavours.server import rows_deploys as dc_deploys
from bbmirror.rows import RowError
from bbmirror.simulator.cloud import deploys
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.simulator.common.clock import to_us
from bbmirror.simulator.common.transport import SimulatorTransport

ENV = {
    "type": "deployment_environment",
    "uuid": "{e-1}",
    "name": "Production",
    "slug": "production",
    "rank": 2,
    "environment_type": {"type": "deployment_environment_type", "name": "Production", "rank": 2},
}
DEPLOYMENT = {
    "type": "deployment",
    "uuid": "{d-1}",
    "environment": {"type": "deployment_environment", "uuid": "{e-1}"},
    "release": {
        "type": "deployment_release",
        "uuid": "{rel-1}",
        "name": "#12",
        "commit": {"type": "commit", "hash": "abc123"},
        "created_on": "2024-03-01T09:58:00.123Z",
    },
    "state": {
        "type": "deployment_state_completed",
        "name": "COMPLETED",
        "deployer": {"type": "user", "uuid": "{u-1}", "display_name": "Ada"},
        "start_date": "2024-03-01T10:00:00.000Z",
        "completion_date": "2024-03-01T10:05:00+00:00",
        "status": {"type": "deployment_state_completed_status_failed", "name": "FAILED"},
    },
}


def test_an_environment_row_keeps_its_type_lower_case_and_its_rank():
    (row,) = rows_deploys.environment(ENV, source="c", repository_id="{r}")["environments"]
    assert (row["id"], row["type"], row["rank"], row["name"]) == (
        "{r}/environment/{e-1}",
        "production",
        2,
        "Production",
    )


def test_a_deployment_row_has_its_environment_commit_result_and_times():
    rs = rows_deploys.deployment(DEPLOYMENT, source="c", repository_id="{r}")
    (row,) = rs["deployments"]
    assert row["environment_id"] == "{r}/environment/{e-1}"
    assert (row["state"], row["result"], row["commit_hash"]) == ("COMPLETED", "FAILED", "abc123")
    assert row["commit_id"] == "{r}/abc123"
    assert row["started_on"] == "2024-03-01T10:00:00.000000+00:00"
    assert row["completed_on"] == "2024-03-01T10:05:00.000000+00:00"
    assert row["release_created_on"] == "2024-03-01T09:58:00.123000+00:00"
    assert row["deployer_id"] == "{u-1}" and [u["id"] for u in rs["users"]] == ["{u-1}"]


def test_an_undeployed_deployment_has_no_dates_and_no_result():
    obj = {**DEPLOYMENT, "state": {"type": "deployment_state_undeployed", "name": "UNDEPLOYED"}}
    (row,) = rows_deploys.deployment(obj, source="c", repository_id="{r}")["deployments"]
    assert (row["state"], row["result"], row["started_on"], row["deployer_id"]) == (
        "UNDEPLOYED",
        None,
        None,
        None,
    )


@pytest.mark.parametrize("broken", [{"type": "deployment"}, {**DEPLOYMENT, "environment": {}}])
def test_a_deployment_without_uuid_or_environment_is_a_row_error(broken):
    with pytest.raises(RowError):
        rows_deploys.deployment(broken, source="c", repository_id="{r}")


def test_generated_deployments_release_default_branch_commits_in_order():
    world = generate(1, "small")
    using = [r for r in world.repositories.values() if r.deploys.environments]
    assert 0 < len(using) < len(world.repositories)  # some repositories deploy, some don't
    for repo in using:
        line = set(deploys.first_parents(repo))
        envs = {e.uuid: e.kind for e in repo.deploys.environments}
        assert {x.commit for x in repo.deploys.deployments} <= line
        for x in repo.deploys.deployments:
            assert x.release_created_on <= (x.start_date or "9")
            assert x.completion_date is None or x.start_date < x.completion_date
            assert to_us(x.release_created_on) >= to_us(repo.commits[x.commit].date)
            assert envs[x.environment_uuid] in ("Test", "Staging", "Production")
    results = {x.status for r in using for x in r.deploys.deployments}
    assert {"SUCCESSFUL", "FAILED"} <= results


def test_a_sync_mirrors_environments_and_deployments_and_follows_them(tmp_path):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    assert count(harness.db, "select count(*) from deployments") > 0
    rng = random.Random(4)
    for _ in range(6):  # deployments start, progress and complete
        random_activity(world, 15, rng)
        harness.sync_equal()
    states = {x.state for r in world.repositories.values() for x in r.deploys.deployments}
    assert "IN_PROGRESS" in states or "UNDEPLOYED" in states


def _get(harness: Harness, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = SimulatorTransport(harness.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})

    return asyncio.run(go())


def test_the_deployment_lists_refuse_q_and_sort_and_list_environments_by_rank(tmp_path):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    repo = next(r for r in world.repositories.values() if r.deploys.environments)
    base = f"{BASE}/repositories/{repo.full_name}"
    assert _get(harness, f"{base}/deployments/?sort=-state.started_on").status_code == 400
    listed = _get(harness, f"{base}/environments/").json()
    assert [v["environment_type"]["name"] for v in listed["values"]] == [
        "Test",
        "Staging",
        "Production",
    ]
    page = _get(harness, f"{base}/deployments/?pagelen=100").json()
    assert page["size"] == len(repo.deploys.deployments)
    assert {v["state"]["name"] for v in page["values"]} <= {"COMPLETED", "IN_PROGRESS"}


def test_a_token_without_the_pipeline_scope_is_refused_and_noted(tmp_path):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_narrowed("repository", "team", "project")
    assert count(harness.db, "select count(*) from deployments") == 0


# A Data Center deployment as bitbucket-server.md §2.11 shows it.
DC_DEPLOYMENT = {
    "deploymentSequenceNumber": 5,
    "description": "Deploy to prod",
    "displayName": "Release 5",
    "environment": {"displayName": "Prod EU", "key": "prod-eu", "type": "PRODUCTION", "url": ""},
    "fromCommit": {"id": "aaa111", "displayId": "aaa111"},
    "key": "deploy-web",
    "lastUpdated": 1640144380441,
    "state": "ROLLED_BACK",
    "toCommit": {"id": "bbb222", "displayId": "bbb222"},
    "url": "https://ci.example.com/deploy/5",
}


@pytest.mark.parametrize(
    "state, shared",
    [
        ("SUCCESSFUL", ("COMPLETED", "SUCCESSFUL")),
        ("FAILED", ("COMPLETED", "FAILED")),
        ("ROLLED_BACK", ("COMPLETED", "ROLLED_BACK")),
        ("CANCELLED", ("COMPLETED", "CANCELLED")),
        ("IN_PROGRESS", ("IN_PROGRESS", None)),
        ("PENDING", ("PENDING", None)),
        ("UNKNOWN", ("UNKNOWN", None)),
    ],
)
def test_data_center_states_map_onto_the_shared_columns(state, shared):
    rs = dc_deploys.deployment({**DC_DEPLOYMENT, "state": state}, source="s", repository_id="r")
    (row,) = rs["deployments"]
    assert (row["state"], row["result"]) == shared
    assert (row["completed_on"] is not None) == (shared[0] == "COMPLETED")


def test_a_data_center_deployment_names_its_environment_and_commits():
    rs = dc_deploys.deployment(DC_DEPLOYMENT, source="s", repository_id="r")
    (row,), (env,) = rs["deployments"], rs["environments"]
    assert row["id"] == "r/deployment/deploy-web/prod-eu/5" and row["sequence"] == 5
    assert (row["commit_hash"], row["from_commit_hash"], row["commit_id"]) == (
        "bbb222",
        "aaa111",
        "r/bbb222",
    )
    assert row["updated_on"] == "2021-12-22T03:39:40.441000+00:00"
    assert (env["id"], env["type"]) == ("r/environment/prod-eu", "production")
    testing = {**DC_DEPLOYMENT, "environment": {"key": "qa", "type": "TESTING"}}
    (qa,) = dc_deploys.deployment(testing, source="s", repository_id="r")["environments"]
    assert qa["type"] == "test"


def test_a_no_op_run_lists_deployments_once_per_deploying_repository_and_no_environments(
    tmp_path,
):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    harness.log.clear()
    harness.sync_equal()
    asked = [r.path for r in harness.log if "/deployments" in r.path or "/environments" in r.path]
    deploying = [r for r in world.repositories.values() if r.deploys.environments]
    assert sorted(asked) == sorted(
        f"/2.0/repositories/{r.full_name}/deployments" for r in deploying
    )
    assert len(deploying) < len(world.repositories)  # the others are not asked at all
