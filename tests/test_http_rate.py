"""The HTTP client under rate limits: a 429 pauses the whole client, a probe goes first, the
gap between requests follows the limit, and a day-long Retry-After fails at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from test_http import BASE, TOKEN, _bounded, _client, _server

from bbmirror.config import Credentials, Secret
from bbmirror.http import BitbucketClient, RateLimited


def test_a_day_long_retry_after_fails_the_request_and_blocks_the_rest():
    def handler(request):
        return JSONResponse({"error": {"message": "slow down"}}, 429, {"Retry-After": "86400"})

    transport, seen = _server(handler)

    async def two():
        async with _client(transport) as client:
            with pytest.raises(RateLimited, match=r"asked to wait 24.0 h .*run again after"):
                await client.get("user")
            with pytest.raises(RateLimited):
                await client.get("repositories")  # no request spent to learn it again

    _bounded(two())
    assert len(seen) == 1


@pytest.mark.slow  # really waits: seconds of pauses, measured against the clock
def test_a_429_without_retry_after_pauses_every_queued_request():
    """The server refuses for 0.6 s after its first request. The client's first pause is
    0.25-0.5 s (backoff 0.5, half of it jitter), its second 0.5-1 s more: only the requests in
    flight when the first 429 came back (at most `concurrency`) and one probe per pause may
    draw a 429, not every queued request (issue 11.7: 3,592 of 4,468 requests were 429s)."""
    import time

    opened: list[float] = []
    refused: list[str] = []
    seen: list[str] = []

    async def endpoint(request):
        seen.append(request.url.path)
        opened.append(opened[0] if opened else time.monotonic())
        await asyncio.sleep(0.02)  # a server takes a moment: requests overlap in flight
        if time.monotonic() - opened[0] < 0.6:
            refused.append(request.url.path)
            return JSONResponse({"error": {"message": "Rate limit exceeded"}}, 429)
        return JSONResponse({"values": []})

    app = Starlette(routes=[Route("/{path:path}", endpoint)])
    transport = httpx.ASGITransport(app=app)
    client = BitbucketClient(
        BASE, Credentials(token=Secret(TOKEN)), transport=transport, backoff=0.5, concurrency=4
    )

    async def many():
        async with client:
            return await asyncio.gather(*(client.get(f"r/{i}") for i in range(40)))

    assert len(_bounded(many())) == 40
    assert len(refused) <= 4 + 1
    assert client.throttle.refused == len(refused)
    assert len(seen) == 40 + len(refused)


def test_a_run_of_429s_starts_where_the_last_one_ended():
    """Under a steady limit a sequential walk should not climb the whole backoff ladder (and
    spend a 429 per rung) every window: the next run starts at the rung that worked."""
    import time

    from bbmirror.http.pacing import Throttle

    steps: list[int] = []
    throttle = Throttle(lambda n: steps.append(n) or 0.0)

    def refuse() -> None:
        throttle.refuse(None, time.monotonic() + 1)  # sent after every pause so far

    for _ in range(4):
        refuse()
    throttle.passed()  # the 4th rung worked
    refuse()
    throttle.passed()  # and at once again: try one lower next time
    refuse()
    assert steps == [1, 2, 3, 4, 4, 3]


@pytest.mark.slow  # really waits: seconds of pauses, measured against the clock
def test_under_a_token_bucket_the_client_settles_near_the_refill_rate():
    """A bucket of 2 refilled every 0.1 s, 60 requests 4 at a time: a client that bursts
    after every pause draws a 429 on most attempts; one that widens its gap on a 429 and
    narrows it on success draws few (issue 11.7: 3,592 of 4,468 requests were 429s)."""
    import time

    bucket = {"tokens": 2.0, "at": time.monotonic()}
    refused: list[str] = []

    async def endpoint(request):
        await asyncio.sleep(0.01)
        now = time.monotonic()
        bucket["tokens"] = min(2.0, bucket["tokens"] + (now - bucket["at"]) / 0.1)
        bucket["at"] = now
        if bucket["tokens"] < 1:
            refused.append(request.url.path)
            return JSONResponse({"error": {"message": "Rate limit exceeded"}}, 429)
        bucket["tokens"] -= 1
        return JSONResponse({"values": []})

    transport = httpx.ASGITransport(app=Starlette(routes=[Route("/{p:path}", endpoint)]))
    client = BitbucketClient(BASE, transport=transport, backoff=0.2, concurrency=4, retries=20)

    async def many():
        async with client:
            return await asyncio.gather(*(client.get(f"r/{i}") for i in range(60)))

    assert len(_bounded(many())) == 60
    assert len(refused) <= 15, len(refused)


def test_the_gap_after_429s_never_exceeds_the_clients_longest_backoff():
    """A client told to back off at most 10 ms keeps at most 10 ms between requests too (the
    tests' harness: a 2 s gap made one faults test sleep 100 s); the default stays 2 s."""
    import time

    from bbmirror.http.pacing import GAP_MAX, Throttle

    narrow, wide = Throttle(lambda n: 0.0, max_gap=0.01), Throttle(lambda n: 0.0)
    for _ in range(8):  # eight 429s in a row, each to a request sent after the last pause
        narrow.refuse(None, time.monotonic() + 1)
        wide.refuse(None, time.monotonic() + 1)
    assert (narrow.gap, wide.gap) == (0.01, GAP_MAX)
    client = BitbucketClient(BASE, max_backoff=0.05)
    assert client.throttle.max_gap == 0.05
