"""The HTTP client against small hostile servers: what it refuses, retries and never leaks."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bbmirror.config import Credentials, Secret
from bbmirror.http import BadPayload, BitbucketClient, BitbucketError, Pacer

TOKEN = "hostile-test-token-123456"
BASE = "http://bitbucket.test/2.0"


def _server(handler) -> tuple[httpx.ASGITransport, list[str]]:
    """An ASGI app answering every path with ``handler(request)``; records hosts and paths."""
    seen: list[str] = []

    async def endpoint(request):
        seen.append(f"{request.url.netloc}{request.url.path}")
        return handler(request)

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])
    return httpx.ASGITransport(app=app), seen


def _client(transport, **kwargs) -> BitbucketClient:
    credentials = Credentials(token=Secret(TOKEN))
    return BitbucketClient(BASE, credentials, transport=transport, backoff=0.001, **kwargs)


async def _walk(client: BitbucketClient, path: str) -> list:
    async with client:
        return [page async for page in client.pages(path)]


def test_a_next_link_to_another_host_is_never_followed():
    def handler(request):
        return JSONResponse({"values": [1], "next": "http://evil.example/steal?page=2"})

    transport, seen = _server(handler)
    with pytest.raises(BitbucketError, match="refusing to send credentials"):
        asyncio.run(_walk(_client(transport), "repositories/acme"))
    assert seen == ["bitbucket.test/2.0/repositories/acme"]  # evil.example never asked


def test_a_page_loop_stops_the_walk():
    def handler(request):
        return JSONResponse({"values": [1], "next": f"{BASE}/loop?page=2"})

    transport, seen = _server(handler)
    with pytest.raises(BadPayload, match="page loop"):
        asyncio.run(_walk(_client(transport), "loop"))
    assert len(seen) == 2


def test_server_paging_follows_next_page_start_not_start_plus_size():
    def handler(request):
        start = int(request.query_params.get("start", 0))
        if start == 0:
            return JSONResponse({"values": [1, 2], "isLastPage": False, "nextPageStart": 10})
        return JSONResponse({"values": [start], "isLastPage": True})

    transport, seen = _server(handler)
    pages = asyncio.run(_walk(_client(transport, paging="server"), "rest/api/1.0/repos"))
    assert [p.values for p in pages] == [[1, 2], [10]]


def test_transient_failures_are_retried_and_counted():
    answers = iter([503, 555, 429, 200])

    def handler(request):
        status = next(answers)
        return JSONResponse({"values": []} if status == 200 else {"error": {}}, status)

    transport, seen = _server(handler)
    client = _client(transport)
    body = asyncio.run(_get(client, "user"))
    assert body == {"values": []}
    assert (client.requests, client.retried, len(seen)) == (4, 3, 4)


async def _get(client: BitbucketClient, path: str) -> dict:
    async with client:
        return await client.get(path)


def test_errors_name_the_problem_without_the_secret():
    def handler(request):
        echoed = request.headers.get("authorization", "")
        return JSONResponse({"type": "error", "error": {"message": f"bad {echoed}"}}, 403)

    transport, _ = _server(handler)
    with pytest.raises(BitbucketError) as caught:
        asyncio.run(_get(_client(transport), "repositories/acme/api"))
    assert TOKEN not in str(caught.value)
    assert "may not read" in str(caught.value)


def test_retry_after_and_rate_limit_reset_are_honoured():
    client = _client(httpx.MockTransport(lambda r: httpx.Response(200)))
    hinted = httpx.Response(429, headers={"Retry-After": "7"})
    assert client._wait(1, hinted) == 7.0
    reset = httpx.Response(429, headers={"X-RateLimit-Reset": "12"})
    assert client._wait(1, reset) == 12.0
    plain = client._wait(3, httpx.Response(500))
    assert 0.002 <= plain <= 0.004  # exponential: backoff * 2**(attempt-1), half of it jitter


def test_the_pacing_budget_waits_for_the_oldest_request_to_age():
    moments = iter([0.0, 10.0, 20.0, 20.0, 3700.0, 3700.0])
    pacer = Pacer(per_hour=2, clock=lambda: next(moments))
    pacer.spend()  # t=0
    pacer.spend()  # t=10
    assert pacer.delay() == 3580.0  # at t=20 the budget is spent until t=3600
    pacer.spend()  # (spent anyway at t=20)
    assert pacer.delay() == 0.0  # t=3700: the first two have aged out
