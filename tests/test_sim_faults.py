"""Fault switches (latency, rate limits, 5xx/555/429, drops) and the loopback server."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter

import httpx
import pytest
from test_sim_api import (
    API_TOKEN,
    OUTSIDER_TOKEN,
    OWNER_TOKEN,
    SECRETS,
    Sim,
    config_for,
    make_world,
    repo_path,
)

from bbmirror.simulator.cloud.serving import RunningSimulator, in_process_client
from bbmirror.simulator.cloud.world import World
from bbmirror.simulator.common.faults import Faults


class FakeClock:
    """A settable clock for the rolling rate-limit window."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def public_repo_url(world: World) -> str:
    repo = next(r for r in world.repositories.values() if not r.is_private)
    return repo_path(repo)


def sim_with(faults: Faults) -> Sim:
    world = make_world()
    return Sim(world, config_for(world, faults=faults))


def test_latency_is_applied_per_request_from_the_seeded_generator() -> None:
    runs = []
    for _ in range(2):
        s = sim_with(Faults(latency=0.001, jitter=0.004, seed=7))
        try:
            for _ in range(5):
                assert s.get(public_repo_url(s.world)).status_code == 200
            faults = s.app.state.faults
            assert faults.counters["delayed"] == 5
            assert all(0.001 <= d <= 0.005 for d in faults.delays)
            runs.append(list(faults.delays))
        finally:
            s.close()
    assert runs[0] == runs[1]  # same seed, same delays
    assert len(set(runs[0])) > 1  # jitter varies them


def test_latency_applies_to_each_concurrent_request() -> None:
    """Both requests complete, and the middleware records one delay for each."""
    world = make_world()
    faults = Faults(latency=0.002)

    async def main() -> list[int]:
        async with in_process_client(world, config_for(world, faults=faults)) as client:
            url = public_repo_url(world)
            responses = await asyncio.gather(client.get(url), client.get(url))
            return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200, 200]
    assert faults.counters["delayed"] == 2 and faults.delays == [0.002, 0.002]


@pytest.mark.parametrize("retry_after", [False, True])
def test_rate_limit_rolls_per_credential(retry_after: bool) -> None:
    clock = FakeClock()
    s = sim_with(Faults(rate_limit=3, retry_after=retry_after, clock=clock))
    try:
        url = public_repo_url(s.world)
        codes = [s.get(url).status_code for _ in range(3)]
        clock.now += 600
        refused = s.get(url)
        assert codes == [200, 200, 200] and refused.status_code == 429
        assert refused.json()["type"] == "error"
        if retry_after:
            assert refused.headers["retry-after"] == "3000"  # the oldest leaves in 3000 s
        else:
            assert "retry-after" not in refused.headers
        assert s.get(url, token=OUTSIDER_TOKEN).status_code == 200  # its own allowance
        assert s.get(url, token=None).status_code == 200  # anonymous: its own bucket
        clock.now += 3000
        assert s.get(url).status_code == 200  # the window rolled
        assert s.app.state.faults.counters["rate_limited"] == 1
        assert [r.status for r in s.app.state.request_log].count(429) == 1
    finally:
        s.close()


def test_rate_limit_as_a_token_bucket_refills_evenly() -> None:
    clock = FakeClock()
    s = sim_with(Faults(rate_limit=3, window=60, bucket=True, retry_after=True, clock=clock))
    try:
        url = public_repo_url(s.world)
        assert [s.get(url).status_code for _ in range(3)] == [200, 200, 200]  # the burst
        refused = s.get(url)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
        clock.now += 20  # one token back (3 per 60 s), not the whole window
        assert [s.get(url).status_code for _ in range(2)] == [200, 429]
    finally:
        s.close()


def test_rate_limit_headers_only_on_bearer_requests() -> None:
    s = sim_with(Faults(rate_limit=10, rate_limit_headers=True, clock=FakeClock()))
    try:
        url = public_repo_url(s.world)
        first = s.get(url)
        assert first.headers["x-ratelimit-limit"] == "10"
        assert first.headers["x-ratelimit-resource"] == "api"
        assert first.headers["x-ratelimit-nearlimit"] == "false"
        near = [s.get(url).headers["x-ratelimit-nearlimit"] for _ in range(8)]
        assert near[-1] == "true" and near[0] == "false"
        basic = base64.b64encode(f"owner@example.com:{API_TOKEN}".encode()).decode()
        via_basic = s.get(url, token=None, headers={"Authorization": f"Basic {basic}"})
        assert "x-ratelimit-limit" not in via_basic.headers
        assert "x-ratelimit-limit" not in s.get(url, token=None).headers
    finally:
        s.close()


def test_rate_limit_headers_without_a_limit_report_the_default() -> None:
    s = sim_with(Faults(rate_limit_headers=True))
    try:
        response = s.get(public_repo_url(s.world))
        assert response.status_code == 200 and response.headers["x-ratelimit-limit"] == "1000"
    finally:
        s.close()


def statuses_for(seed: int, n: int, kinds: tuple[str, ...], rate: float) -> list[int]:
    s = sim_with(Faults(fault_rate=rate, fault_kinds=kinds, seed=seed))
    try:
        url = public_repo_url(s.world)
        return [s.get(url).status_code for _ in range(n)]
    finally:
        s.close()


def test_server_errors_at_the_configured_rate_deterministically() -> None:
    kinds = ("500", "502", "503", "555")
    codes = statuses_for(11, 400, kinds, 0.25)
    failures = [c for c in codes if c != 200]
    assert 60 <= len(failures) <= 140  # 100 expected
    assert set(Counter(failures)) == {500, 502, 503, 555}
    assert statuses_for(11, 400, kinds, 0.25) == codes
    assert statuses_for(12, 400, kinds, 0.25) != codes


def test_fault_bodies_are_error_json() -> None:
    s = sim_with(Faults(fault_rate=1.0, fault_kinds=("555",)))
    try:
        response = s.get(public_repo_url(s.world))
        assert response.status_code == 555
        assert response.json()["type"] == "error" and response.json()["error"]["message"]
    finally:
        s.close()


@pytest.mark.parametrize("retry_after", [False, True])
def test_injected_429(retry_after: bool) -> None:
    s = sim_with(Faults(fault_rate=1.0, fault_kinds=("429",), retry_after=retry_after))
    try:
        response = s.get(public_repo_url(s.world))
        assert response.status_code == 429
        assert ("retry-after" in response.headers) is retry_after
    finally:
        s.close()


def test_drop_in_process_is_a_remote_protocol_error() -> None:
    s = sim_with(Faults(fault_rate=1.0, fault_kinds=("drop",)))
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            s.get(public_repo_url(s.world))
        assert s.app.state.faults.counters["drop"] == 1
        assert s.app.state.request_log[-1].status == 0
    finally:
        s.close()


def test_faults_switch_at_run_time() -> None:
    s = sim_with(Faults())
    try:
        url = public_repo_url(s.world)
        assert s.get(url).status_code == 200
        s.app.state.faults = Faults(fault_rate=1.0, fault_kinds=("503",))
        assert s.get(url).status_code == 503
        s.app.state.faults.fault_rate = 0.0
        assert s.get(url).status_code == 200
    finally:
        s.close()


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError):
        Faults(fault_kinds=("418",))


def test_running_simulator_serves_and_drops_on_a_real_socket() -> None:
    world = make_world()
    with RunningSimulator(world, config_for(world, base_url=None)) as running:
        assert running.base_url.startswith("http://127.0.0.1:")
        url = public_repo_url(world)
        headers = {"Authorization": f"Bearer {OWNER_TOKEN}"}
        with httpx.Client(base_url=running.base_url, headers=headers) as client:
            doc = client.get(url).json()
            assert doc["links"]["self"]["href"] == f"{running.base_url}{url}"
            repo = next(r for r in world.repositories.values() if not r.is_private)
            with running.lock:
                repo.description = "changed from the test thread"
            assert client.get(url).json()["description"] == "changed from the test thread"
            page = client.get(f"{url}/commits", params={"pagelen": 2}).json()
            assert page["next"].startswith(running.base_url)
            running.app.state.faults = Faults(fault_rate=1.0, fault_kinds=("drop",))
            with pytest.raises(httpx.RemoteProtocolError):  # the same error as in-process
                client.get(url)
            running.app.state.faults = Faults()
            assert client.get(url).status_code == 200
        statuses = [r.status for r in running.request_log]
        assert statuses == [200, 200, 200, 0, 200]
        assert not any(secret in repr(running.request_log) for secret in SECRETS)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.base_url}{url}", timeout=2)
