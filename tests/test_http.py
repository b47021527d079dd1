"""The HTTP client against small hostile servers: what it refuses, retries and never leaks."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bbmirror.config import Credentials, Secret
from bbmirror.http import (
    BadPayload,
    BitbucketClient,
    BitbucketError,
    DeadlineExceeded,
    Pacer,
    PageLoop,
    ResponseTooLarge,
    Unreachable,
)

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


# -- hostile servers, one defect each (issue 11 items 6, 8, 9, 11 and the 429 backoff) --------

BOUND = 20.0  # seconds: a test that would hang on the unfixed client fails here instead


def _bounded(coro):
    """Run a coroutine, failing (not hanging) when the client would wait for ever."""
    return asyncio.run(asyncio.wait_for(coro, BOUND))


def test_server_next_page_start_creeping_by_one_is_a_page_loop():
    def handler(request):
        start = int(request.query_params.get("start", 0))
        if start > 300:  # bounded, so the unfixed client ends too (without noticing)
            return JSONResponse({"values": [], "isLastPage": True})
        page = list(range(start, start + 25))
        return JSONResponse(
            {
                "values": page,
                "size": 25,
                "limit": 25,
                "isLastPage": False,
                "nextPageStart": start + 1,
            }
        )

    transport, seen = _server(handler)
    with pytest.raises(PageLoop, match="re-serves"):
        _bounded(_walk(_client(transport, paging="server"), "rest/api/1.0/repos"))
    assert len(seen) == 3


def test_server_next_page_start_going_back_is_a_page_loop():
    def handler(request):
        start = int(request.query_params.get("start", 0))
        following = 50 if start == 0 else 0
        return JSONResponse({"values": [start], "isLastPage": False, "nextPageStart": following})

    transport, seen = _server(handler)
    with pytest.raises(PageLoop, match="nextPageStart 0 for start 50"):
        _bounded(_walk(_client(transport, paging="server"), "rest/api/1.0/repos"))
    assert len(seen) == 2


def test_cloud_pages_far_beyond_the_promised_size_stop():
    def handler(request):
        page = int(request.query_params.get("page", 1))
        if page > 200:
            return JSONResponse({"values": [page], "pagelen": 10, "size": 30})
        return JSONResponse(
            {"values": [page], "pagelen": 10, "size": 30, "next": f"{BASE}/x?page={page + 1}"}
        )

    transport, seen = _server(handler)
    with pytest.raises(PageLoop, match="past 11 pages"):
        _bounded(_walk(_client(transport), "x"))
    assert len(seen) == 12  # ceil(30 / 10) * 2 + 5 pages, and the one that broke the cap


def test_endless_pages_without_a_size_stop_at_the_hard_cap():
    def handler(request):
        page = int(request.query_params.get("page", 1))
        following = f"{BASE}/x?page={page + 1}" if page < 500 else None
        return JSONResponse({"values": [page], "next": following})

    transport, seen = _server(handler)
    with pytest.raises(PageLoop, match="past 40 pages"):
        _bounded(_walk(_client(transport, max_pages=40), "x"))
    assert len(seen) == 41


def test_the_same_page_under_a_new_link_is_a_page_loop():
    def handler(request):
        page = int(request.query_params.get("page", 1))
        following = f"{BASE}/x?page={page + 1}" if page < 300 else None
        return JSONResponse({"values": [{"id": 1}, {"id": 2}], "next": following})

    transport, seen = _server(handler)
    with pytest.raises(PageLoop, match="same page again"):
        _bounded(_walk(_client(transport), "x"))
    assert len(seen) == 2


def _raw_app(body_sender):
    """A bare ASGI app whose response body ``body_sender(send)`` writes; counts requests."""
    seen: list[str] = []

    async def app(scope, receive, send):
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await body_sender(send)

    return httpx.ASGITransport(app=app), seen


def test_a_trickling_server_fails_within_the_deadline():
    async def trickle(send):
        for _ in range(400):  # '{"values": []}' then 1 byte every 20 ms: 8 s in all
            await send({"type": "http.response.body", "body": b" ", "more_body": True})
            await asyncio.sleep(0.02)
        await send({"type": "http.response.body", "body": b'{"values": []}'})

    transport, seen = _raw_app(trickle)
    with pytest.raises(DeadlineExceeded, match="within 0.3 s"):
        _bounded(_get(_client(transport, deadline=0.3), "user"))
    assert len(seen) == 2  # tried once more, then named


def test_a_hanging_host_fails_in_bounded_time_and_then_at_once():
    async def hang(send):
        await asyncio.sleep(3600)

    transport, seen = _raw_app(hang)

    async def twice():
        async with _client(transport, deadline=0.2) as client:
            with pytest.raises(DeadlineExceeded):
                await client.get("user")
            with pytest.raises(Unreachable, match="3 requests in a row"):
                await client.get("other")

    _bounded(twice())
    assert len(seen) == 3


def test_a_huge_body_is_refused_without_keeping_it():
    chunk = b" " * 65536

    async def huge(send):
        for _ in range(64):  # 4 MiB, in chunks, with no Content-Length
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b'{"values": []}'})

    transport, seen = _raw_app(huge)
    with pytest.raises(ResponseTooLarge, match="more than 1,048,576 bytes"):
        _bounded(_get(_client(transport, max_body=1 << 20), "user"))
    assert len(seen) == 1  # the same page would be as large again: not retried


def test_a_truncated_200_is_retried_like_a_5xx():
    answers = iter([b'{"values": [{"id": 1, "ti', b"<html>proxy error", b'{"values": []}'])

    async def garbled(send):
        await send({"type": "http.response.body", "body": next(answers)})

    transport, seen = _raw_app(garbled)
    client = _client(transport)
    assert _bounded(_get(client, "user")) == {"values": []}
    assert (len(seen), client.retried) == (3, 2)


def test_a_body_that_stays_garbled_is_a_bad_payload_after_a_few_tries():
    async def garbled(send):
        await send({"type": "http.response.body", "body": b'{"values": [{"id": 1, "ti'})

    transport, seen = _raw_app(garbled)
    with pytest.raises(BadPayload, match="invalid JSON"):
        _bounded(_get(_client(transport), "user"))
    assert len(seen) == 4


def test_basic_auth_echoed_by_a_server_never_reaches_the_message():
    import base64

    password = "hunter2-very-secret"
    pair = f"alice@example.com:{password}"
    encoded = base64.b64encode(pair.encode()).decode()

    def handler(request):
        echoed = request.headers.get("authorization", "")
        text = f"boom; request headers: Authorization: {echoed}; decoded {pair}"
        return JSONResponse({"type": "error", "error": {"message": text}}, 500)

    transport, _ = _server(handler)
    credentials = Credentials(email="alice@example.com", api_token=Secret(password))
    client = BitbucketClient(BASE, credentials, transport=transport, backoff=0.001, retries=1)
    with pytest.raises(BitbucketError) as caught:
        _bounded(_get(client, "user"))
    text = str(caught.value)
    assert "answered HTTP 500" in text
    for leaked in (password, encoded, pair):
        assert leaked not in text


def test_a_password_in_the_base_url_never_reaches_a_message():
    def handler(request):
        return JSONResponse({"error": {"message": "nope"}}, 404)

    transport, _ = _server(handler)
    client = BitbucketClient(
        "http://bob:pa55word-x@bitbucket.test/2.0", transport=transport, backoff=0.001
    )
    with pytest.raises(BitbucketError) as caught:
        _bounded(_get(client, "repositories/acme"))
    assert "pa55word-x" not in str(caught.value)
    assert "pa55word-x" not in (caught.value.url or "")
    assert "bitbucket.test/2.0/repositories/acme was not found" in str(caught.value)


def test_a_lone_surrogate_in_one_value_does_not_garble_the_page():
    body = b'{"values": [{"id": 1, "title": "bad \\ud800 title"}, {"id": 2, "title": "ok"}]}'

    async def page(send):
        await send({"type": "http.response.body", "body": body})

    transport, seen = _raw_app(page)
    got = _bounded(_get(_client(transport), "user"))
    assert [v["id"] for v in got["values"]] == [1, 2]
    assert len(seen) == 1
