"""Several credentials per source (issue 14): budgets add up, requests spread, a refusal on one
credential moves its work to the others, and one that sees less leaves the pool."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from dataclasses import dataclass
from types import SimpleNamespace

import httpx
import pytest
from mirror import BASE, TOKEN, Harness, differences
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bbmirror.config import ConfigError, Credentials, Secret, Source, flag_source, load_config
from bbmirror.engine.runs import lister_identity
from bbmirror.http import AuthError, BitbucketClient, RateLimited
from bbmirror.http.scrub import scrub
from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid

TOKENS = [TOKEN, *(f"pool-secret-token-{n}-abcdefghij" for n in range(2, 5))]
FAKE = "http://fake.test"


def _bounded(coro, seconds: float = 30.0):
    """Run with a hang guard (a failure, not a speed assertion)."""
    return asyncio.run(asyncio.wait_for(coro, seconds))


@dataclass
class PoolHarness(Harness):
    """The Cloud simulator accepting every token of ``tokens``; the source holds them all."""

    tokens: tuple[str, ...] = tuple(TOKENS)
    accepted: tuple[str, ...] = tuple(TOKENS)

    def make_app(self):
        user = viewer_uuid(self.world)
        config = SimulatorConfig(base_url=BASE, tokens={t: user for t in self.accepted})
        return create_app(self.world, config)

    def source_values(self) -> dict:
        pool = [Credentials(token=Secret(t)) for t in self.tokens]
        return {**super().source_values(), "credentials": pool[0], "more_credentials": pool[1:]}


def _served(harness: Harness) -> Counter:
    return Counter(r.credential for r in harness.log if 200 <= r.status < 300)  # 202: export


def test_requests_spread_evenly_across_four_credentials(tmp_path):
    harness = PoolHarness(generate(1, "tiny"), str(tmp_path / "m.db"))
    summary = harness.sync()
    assert summary.outcome == "ok"
    assert differences(harness.world, harness.db) == []
    served = _served(harness)
    assert set(served) == {"token#1", "token#2", "token#3", "token#4"}
    assert max(served.values()) - min(served.values()) <= 1
    assert sum(served.values()) == summary.requests


def test_a_credential_out_of_requests_hands_its_work_to_the_others(tmp_path):
    """Token 1 spent its hour elsewhere: its 429s (no Retry-After, as on Cloud) pause it
    alone; the others read everything."""
    harness = PoolHarness(
        generate(1, "tiny"), str(tmp_path / "m.db"), tokens=tuple(TOKENS[:2]), faults={}
    )
    faults = harness.app.state.faults
    faults.rate_limit = 5000
    faults.hits["token#1"] = deque([faults.clock()] * 5000)
    summary = harness.sync()
    assert summary.outcome == "ok"
    assert differences(harness.world, harness.db) == []
    statuses = Counter((r.credential, r.status) for r in harness.log)
    served = _served(harness)  # 200s, and the export job's 202s
    assert served["token#1"] == 0
    assert served["token#2"] == summary.requests - statuses[("token#1", 429)]


def test_a_huge_retry_after_blocks_that_credential_only(tmp_path):
    harness = PoolHarness(
        generate(1, "tiny"), str(tmp_path / "m.db"), tokens=tuple(TOKENS[:2]), faults={}
    )
    faults = harness.app.state.faults
    faults.rate_limit, faults.retry_after = 5000, True
    faults.hits["token#1"] = deque([faults.clock()] * 5000)
    summary = harness.sync()
    assert summary.outcome == "ok"
    assert differences(harness.world, harness.db) == []
    refused = [r for r in harness.log if r.credential == "token#1"]
    assert refused and all(r.status == 429 for r in refused)
    assert len(refused) <= 4  # at most the requests in flight when the block was learnt


def test_a_rejected_credential_leaves_the_pool_with_one_warning(tmp_path, caplog):
    bad = "pool-revoked-token-0123456789"
    harness = PoolHarness(
        generate(1, "tiny"), str(tmp_path / "m.db"), tokens=(bad, TOKEN), accepted=(TOKEN,)
    )
    with caplog.at_level(logging.WARNING, logger="bbmirror.pool"):
        summary = harness.sync()
    assert summary.outcome == "ok"
    assert differences(harness.world, harness.db) == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "bbmirror.pool"]
    assert len(warnings) == 1
    assert "credential 1" in warnings[0] and "taken out of the pool" in warnings[0]
    assert bad not in caplog.text
    assert sum(1 for r in harness.log if r.credential == "token#invalid") == 1


def _fake(handler) -> httpx.AsyncBaseTransport:
    async def endpoint(request):
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return handler(request.url.path, token)

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET"])])
    return httpx.ASGITransport(app=app)


def _client(tokens, handler, **kwargs) -> BitbucketClient:
    pool = [Credentials(token=Secret(t)) for t in tokens]
    return BitbucketClient(FAKE, pool, transport=_fake(handler), backoff=0.001, **kwargs)


def test_budgets_add_up():
    """Three requests an hour each: twelve requests go at once with four credentials (one
    credential would wait an hour after the third)."""
    seen: list[str] = []

    def handler(path, token):
        seen.append(token)
        return JSONResponse({"ok": True})

    client = _client(TOKENS, handler, budget=3)

    async def run():
        async with client:
            return [await client.get(f"r/{i}") for i in range(12)]

    assert len(_bounded(run(), 20)) == 12
    assert Counter(seen) == {t: 3 for t in TOKENS}
    assert [lane.pacer.delay() > 0 for lane in client.pool.lanes] == [True] * 4


def test_a_403_another_credential_can_read_takes_the_narrow_one_out(caplog):
    narrow, wide = TOKENS[0], TOKENS[1]
    seen: list[str] = []

    def handler(path, token):
        seen.append(token)
        if token == narrow and path == "/pullrequests":
            return JSONResponse({"error": {"message": "scope"}}, 403)
        return JSONResponse({"path": path})

    client = _client([narrow, wide], handler, concurrency=1)

    async def run():
        async with client:
            return [await client.get(p) for p in ("pullrequests", "repos", "repos")]

    with caplog.at_level(logging.WARNING, logger="bbmirror.pool"):
        assert _bounded(run())[0] == {"path": "/pullrequests"}
    assert [TOKENS.index(t) for t in seen] == [0, 1, 1, 1]
    assert [lane.out for lane in client.pool.lanes] == ["HTTP 403", None]
    assert "credential 1 (bearer token) answered 403" in caplog.text


def test_a_403_every_credential_gives_is_the_answer_and_stops_being_cross_checked():
    seen: list[str] = []

    def handler(path, token):
        seen.append(token)
        return JSONResponse({"error": {"message": "no"}}, 403)

    client = _client(TOKENS[:2], handler, concurrency=1)

    async def run():
        errors = []
        async with client:
            for i in range(5):
                with pytest.raises(AuthError) as caught:
                    await client.get(f"r/{i}")
                errors.append(caught.value.status)
        return errors

    assert _bounded(run()) == [403] * 5
    assert len(seen) == 3 * 2 + 2  # three cross-checked, then taken at its word
    assert all(lane.out is None for lane in client.pool.lanes)


def test_rate_limit_remaining_zero_pauses_that_credential_only():
    first, second = TOKENS[:2]
    seen: list[str] = []

    def handler(path, token):
        seen.append(token)
        headers = {"X-RateLimit-Limit": "900"}
        if token == first:
            headers |= {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "600"}
        return JSONResponse({"ok": True}, headers=headers)

    client = _client([first, second], handler, concurrency=1)

    async def run():
        async with client:
            for i in range(6):
                await client.get(f"r/{i}")

    _bounded(run())
    assert [TOKENS.index(t) for t in seen] == [0, 1, 1, 1, 1, 1]
    assert [lane.pacer.per_hour for lane in client.pool.lanes] == [900, 900]


def test_every_secret_of_the_pool_is_scrubbed():
    _client(TOKENS, lambda path, token: JSONResponse({}))
    assert scrub(f"echo {TOKENS[3]} and {TOKENS[2]}") == "echo *** and ***"


def test_numbered_tokens_and_prefix_lists_make_a_pool(tmp_path, monkeypatch):
    for name, value in {
        "BITBUCKET_TOKEN": "env-token-zero-0123",
        "BITBUCKET_TOKEN_1": "env-token-one-0123",
        "BITBUCKET_TOKEN_2": "env-token-two-0123",
        "BITBUCKET_TOKEN_4": "env-token-gap-0123",  # after a gap: not read
        "BOT_EMAIL": "bot@example.com",
        "BOT_API_TOKEN": "env-bot-secret-0123",
    }.items():
        monkeypatch.setenv(name, value)
    assert len(flag_source().pool()) == 3
    config = tmp_path / "c.toml"
    config.write_text('[[source]]\nname = "a"\ncredentials = ["BITBUCKET", "BOT"]\n')
    (source,) = load_config(config)
    labels = [c.label for c in source.pool()]
    assert labels == ["bearer token"] * 3 + ["basic auth for bot@example.com"]
    config.write_text('[[source]]\nname = "a"\ncredentials = ["BOT", 3]\n')
    with pytest.raises(ConfigError, match="list of them"):
        load_config(config)


def test_the_lister_identity_of_a_pool_ignores_order_and_keeps_a_single_credential_s():
    pool = [Credentials(token=Secret(t)) for t in TOKENS]

    def identity(credentials: list[Credentials]) -> str:
        source = Source(credentials=credentials[0], more_credentials=credentials[1:])
        return lister_identity(SimpleNamespace(source=source), "salt")  # type: ignore[arg-type]

    assert identity(pool) == identity(pool[::-1])
    assert identity(pool).startswith("pool of 4 #")
    assert identity(pool) != identity(pool[:3])
    single = identity(pool[:1])
    assert single.startswith("bearer token #") and single == identity(pool[:1] * 2)


def test_an_answer_saying_none_remain_for_hours_is_kept_and_the_next_request_is_not_sent():
    seen: list[str] = []

    def handler(path, token):
        seen.append(path)
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7200"}
        return JSONResponse({"path": path}, headers=headers)

    client = _client(TOKENS[:1], handler)

    async def run():
        async with client:
            first = await client.get("a")
            with pytest.raises(RateLimited, match="asked to wait 2.0 h"):
                await client.get("b")
            return first

    assert _bounded(run()) == {"path": "/a"}
    assert seen == ["/a"]


def test_four_credentials_read_within_their_hour_what_one_could_not(tmp_path):
    """Under the simulator's per-credential hourly limit, a quarter of a first sync's requests
    (plus a margin) each is enough with four credentials: no wait, no 429."""
    one = Harness(generate(1, "tiny"), str(tmp_path / "one.db"))
    needed = one.sync().requests
    limit = needed // 4 + 5
    assert limit < needed  # one credential alone would have to wait for the next hour
    pool = PoolHarness(generate(1, "tiny"), str(tmp_path / "pool.db"))
    pool.app.state.faults.rate_limit = limit
    summary = pool.sync(budget=limit)
    assert summary.outcome == "ok"
    assert differences(pool.world, pool.db) == []
    assert pool.app.state.faults.counters["rate_limited"] == 0
    assert max(_served(pool).values()) <= limit
