"""The bulk build-status statistics endpoint (``POST /rest/build-status/1.0/commits/stats``)
as the simulator serves it: the documented shape, and its cap on commit ids per request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.simulator.server.world import DcWorld

ROOT = "http://bitbucket-server.test"
TOKEN = "dc-token-stats-s3cret"
STATS = "/rest/build-status/1.0/commits/stats"
FIELDS = {"successful", "failed", "inProgress", "cancelled", "unknown"}


@pytest.fixture(scope="module")
def world() -> DcWorld:
    return generate_dc(4, "small")


def post(world: DcWorld, body: Any, path: str = STATS, **config: Any) -> httpx.Response:
    app = create_dc_app(
        world, DcConfig(base_url=ROOT, tokens={TOKEN: world.users[1].slug}, **config)
    )

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=SimulatorTransport(app), base_url=ROOT) as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            return await client.post(path, json=body, headers=headers)

    return asyncio.run(go())


def test_stats_of_many_commits_leave_out_those_without_builds(world):
    repo = next(r for r in world.repositories.values() if len(r.builds) >= 2)
    built = sorted(repo.builds)[:2]
    bare = next(sha for sha in repo.commits if sha not in repo.builds)
    response = post(world, [*built, bare])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == set(built)  # "commits without any builds … will not be present"
    for sha in built:
        assert set(answer[sha]) == FIELDS
        builds = repo.builds[sha]
        assert sum(answer[sha].values()) == len(builds)
        assert answer[sha]["inProgress"] == sum(b.state == "INPROGRESS" for b in builds)
    latest = post(world, built, path="/rest/build-status/latest/commits/stats")
    assert latest.json() == {sha: answer[sha] for sha in built}


def test_stats_refuse_a_body_that_is_no_list_of_ids_or_too_long(world):
    assert post(world, {"commits": []}).status_code == 400
    assert post(world, [1, 2]).status_code == 400
    ids = [f"{n:040x}" for n in range(101)]
    assert post(world, ids).status_code == 400
    assert post(world, ids[:100]).json() == {}
    assert post(world, ids, max_stats_commits=200).status_code == 200
