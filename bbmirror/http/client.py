"""The one HTTP client: auth, a pacing budget per credential, retries with backoff, safe paging.

Every request bbmirror makes goes through `BitbucketClient`, so there is exactly one place
that holds the credentials (a pool, `pool.py`), counts requests, waits out rate limits and
refuses to follow a
`next` link to another host (which would hand the token to it). A hostile or broken server
cannot stall it or fill memory: each request has a total deadline and a body cap, a huge
Retry-After fails the run with a clear line, and a walk stops on a page loop (`paging.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx

from bbmirror.config import Credentials
from bbmirror.http.errors import (
    AuthError,
    BadPayload,
    BitbucketError,
    DeadlineExceeded,
    Garbled,
    Gone,
    NotFound,
    PageLoop,
    RateLimited,
    ResponseTooLarge,
    Unreachable,
    human,
    origin,
    response_error,
    retry_after,
    server_date,
    short,
)
from bbmirror.http.pacing import Pacer, Throttle
from bbmirror.http.paging import MAX_PAGES, PageGuard
from bbmirror.http.pool import Lane, Pool
from bbmirror.http.raw import FORM, Raw, decode

__all__ = [
    "AuthError",
    "BadPayload",
    "BitbucketClient",
    "BitbucketError",
    "DeadlineExceeded",
    "Gone",
    "NotFound",
    "Page",
    "PageLoop",
    "Pacer",
    "RateLimited",
    "ResponseTooLarge",
    "Unreachable",
]

Params = Sequence[tuple[str, str]] | dict[str, Any] | None

RETRY_STATUSES = {429, 500, 502, 503, 504, 555}
DEADLINE = 120.0  # seconds for one request, connect to last byte
MAX_BODY = 64 * 1024 * 1024  # bytes; a bigger page is refused, not held in memory
MAX_RETRY_AFTER = 900.0  # seconds; a longer Retry-After fails the run with a clear message
GARBLED_RETRIES = 3  # a truncated 200 is retried like a 5xx, this many times
SLOW_RETRIES = 1  # a request that hit its deadline is tried once more
HANGING = 3  # deadlines in a row that mean the host, not one request, is stuck


@dataclass
class Page:
    """One page of a paged collection."""

    url: str
    values: list[dict]
    next: str | None
    body: dict


class BitbucketClient:
    """An async client bound to one Bitbucket base URL and its credentials (one or a pool)."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | Sequence[Credentials] | None = None,
        *,
        budget: int = 1000,
        budget_window: float = 3600.0,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 60.0,
        deadline: float = DEADLINE,
        max_body: int = MAX_BODY,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_pages: int = MAX_PAGES,
        rng: random.Random | None = None,
        on_wait: Callable[[float], None] | None = None,
        paging: str = "cloud",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.on_wait = on_wait  # told when the hourly budget makes us wait
        self.paging = paging  # "cloud": follow `next`; "server": `start` = `nextPageStart`
        if isinstance(credentials, Credentials) or credentials is None:
            credentials = [credentials or Credentials()]
        self.pool = Pool(credentials, budget, self._backoff, budget_window, max_backoff)
        self.semaphore = asyncio.Semaphore(concurrency)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.deadline = deadline
        self.max_body = max_body
        self.max_retry_after = max_retry_after
        self.max_pages = max_pages
        self.rng = rng or random.Random()
        self.requests = 0
        self.retried = 0
        self.server_date: datetime | None = None  # the last response's Date header (its clock)
        self._origin = origin(self.base_url)
        self._slow = 0  # deadlines in a row
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=min(timeout, deadline),
            headers={"Accept": "application/json", "User-Agent": "bbmirror"},
            follow_redirects=False,
        )

    @property
    def credentials(self) -> Credentials:
        return self.pool.lanes[0].credentials

    @property
    def pacer(self) -> Pacer:
        return self.pool.lanes[0].pacer

    @property
    def throttle(self) -> Throttle:
        return self.pool.lanes[0].throttle

    async def __aenter__(self) -> BitbucketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, path: str) -> str:
        """An absolute URL for a path relative to the base URL (or an absolute URL as is)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    async def get(self, path: str, params: Params = None) -> dict:
        return await self.request("GET", path, params=params)

    async def post_form(self, path: str, data: Sequence[tuple[str, str]]) -> dict:
        """POST a form body (Bitbucket's way around long include/exclude lists)."""
        return await self.request("POST", path, form=urlencode(list(data)))

    async def post_json(self, path: str, value: object) -> dict:
        """POST a JSON body that is a query (Data Center's bulk build-status statistics)."""
        body = json.dumps(value)
        return await self.request("POST", path, form=body, content_type="application/json")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        form: str | None = None,
        shape: type = dict,
        content_type: str = FORM,
    ) -> Any:
        """Send one request with pacing, a deadline and retries: its JSON (or ``Raw`` bytes)."""
        url = self.url(path)
        if origin(url) != self._origin:
            raise BitbucketError(
                f"refusing to send credentials to {origin(url)}: it is not {self._origin}",
                url=url,
            )
        attempt = 0
        refused: dict[Lane, int] = {}  # credentials that answered 401/403 to this request
        while True:
            response: httpx.Response | None = None
            content = b""
            limit = self.retries
            probe, lane = False, None
            try:
                async with self.semaphore:
                    lane = await self.pool.acquire(self.on_wait, list(refused))
                    probe = await lane.throttle.hold()
                    lane.pacer.spend()
                    lane.requests += 1
                    self.requests += 1
                    sent = time.monotonic()
                    try:
                        exchange = (method, url, params, form, lane, content_type)
                        response, content = await self._send(*exchange)
                    except httpx.TransportError as exc:
                        if isinstance(exc, httpx.ConnectError):
                            # Rarely back in seconds: give up sooner than on a drop or a 5xx.
                            limit = min(self.retries, 2)
                        last_error: BitbucketError = Unreachable(
                            f"cannot reach {self._origin} ({type(exc).__name__}): check the URL "
                            "and your network",
                            url=url,
                        )
                        if isinstance(exc, httpx.TimeoutException):
                            limit, last_error = self._too_slow(url)
                    except TimeoutError:
                        limit, last_error = self._too_slow(url)
                if response is not None:
                    self._slow = 0
                    self.server_date = server_date(response.headers) or self.server_date
                    status = response.status_code
                    empty = self.pool.read_limits(lane, response)
                    if empty is not None:  # X-RateLimit-Remaining: 0 pauses this credential
                        with contextlib.suppress(RateLimited):  # this answer still counts
                            self._check_hint(empty, response, lane)
                        lane.throttle.until = max(lane.throttle.until, time.monotonic() + empty)
                    if status < 300 and shape is Raw:
                        lane.throttle.passed()
                        headers = {k.lower(): v for k, v in response.headers.items()}
                        return Raw(status, headers, content)
                    if status < 300:
                        try:
                            body = decode(response, content, shape)
                        except Garbled as exc:
                            limit, last_error = min(self.retries, GARBLED_RETRIES), exc.error
                        else:
                            lane.throttle.passed()
                            if refused:
                                self.pool.take_out(refused, lane, short(url))
                            return body
                    elif status in (401, 403) and self.pool.cross_check(lane, status, refused):
                        continue  # another credential may read it: then this one leaves
                    elif status not in RETRY_STATUSES:
                        raise response_error(response, content, lane.credentials)
                    else:
                        last_error = response_error(response, content, lane.credentials)
                        if status == 429:  # every queued request of this credential waits
                            hinted = retry_after(response.headers)
                            if hinted is not None and self._check_hint(hinted, response, lane):
                                continue  # the others carry on without this credential
                            lane.throttle.refuse(hinted, sent)
            finally:
                if probe and lane is not None:  # after the pause or the all-clear is set
                    lane.throttle.release()
                self.pool.changed.set()
            attempt += 1
            if attempt > limit:
                raise last_error
            self.retried += 1
            if response is None or response.status_code != 429:
                await asyncio.sleep(self._wait(attempt, response, lane))

    async def _send(
        self, method: str, url: str, params: Params, form: str | None, lane: Lane, kind: str = FORM
    ) -> tuple[httpx.Response, bytes]:
        """One exchange within the deadline, its body streamed and capped at ``max_body``."""
        headers = lane.credentials.header()
        if form is not None:
            headers["Content-Type"] = kind
        async with asyncio.timeout(self.deadline):
            async with self._http.stream(
                method, url, params=params, content=form, headers=headers
            ) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_body:
                    raise self._too_large(url, int(declared))
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_body:
                        raise self._too_large(url, size)
                    chunks.append(chunk)
                return response, b"".join(chunks)

    def _too_large(self, url: str, size: int) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"{short(url)} sent more than {self.max_body:,} bytes ({size:,} so far); "
            "dropped it (raise max_body if this page is genuine)",
            url=url,
        )

    def _too_slow(self, url: str) -> tuple[int, BitbucketError]:
        """A deadline passed: retry once; several in a row mean the host itself hangs."""
        self._slow += 1
        message = (
            f"{short(url)} did not answer in full within {self.deadline:g} s "
            "(a hanging or trickling server)"
        )
        if self._slow >= HANGING:
            return 0, Unreachable(
                f"{message}; {self._slow} requests in a row: giving up on {self._origin}",
                url=url,
            )
        return min(self.retries, SLOW_RETRIES), DeadlineExceeded(message, url=url)

    def _check_hint(self, hinted: float, response: httpx.Response, lane: Lane) -> bool:
        """A wait beyond ``max_retry_after`` blocks the credential; raise when none is left."""
        if hinted <= self.max_retry_after:
            return False
        until = datetime.now(UTC) + timedelta(seconds=hinted)
        whose = f" for {lane.name}" if len(self.pool.lanes) > 1 else ""
        self.pool.block(
            lane,
            RateLimited(
                f"{self._origin} asked to wait {human(hinted)}{whose} (HTTP "
                f"{response.status_code}, Retry-After) before the next request; bbmirror waits "
                f"at most {human(self.max_retry_after)}: run again after "
                f"{until:%Y-%m-%d %H:%M} UTC",
                response.status_code,
                str(response.url),
            ),
        )
        return True

    async def pages(self, path: str, params: Params = None) -> AsyncIterator[Page]:
        """Walk a paged collection; stop on a page loop or an absurd number of pages.

        Cloud pages are followed through their opaque ``next`` link; Server pages by asking
        again with ``start`` = the ``nextPageStart`` the server gave (never ``start + size``).
        """
        url: str | None = str(httpx.URL(self.url(path), params=params or {}))
        guard = PageGuard(url or "", self.paging, self.max_pages)
        while url:
            body = await self.get(url)
            values = body.get("values")
            if not isinstance(values, list):
                raise BadPayload(f"expected a page with 'values' from {short(url)}", url=url)
            following = self._following(url, body)
            guard.check(url, body, values, following)
            yield Page(url=url, values=values, next=following, body=body)
            url = following

    def _following(self, url: str, body: dict) -> str | None:
        if self.paging == "server":
            start = body.get("nextPageStart")
            if body.get("isLastPage", True) or start is None:
                return None
            if not isinstance(start, int) or isinstance(start, bool):
                raise BadPayload(f"'nextPageStart' is not a number in {short(url)}", url=url)
            return str(httpx.URL(url).copy_set_param("start", str(start)))
        following = body.get("next")
        if following is not None and not isinstance(following, str):
            raise BadPayload(f"'next' is not a link in {short(url)}", url=url)
        return urljoin(url, following) if following else None

    async def get_list(self, path: str, params: Params = None) -> list:
        """GET an endpoint that answers with a bare JSON array (Server's Jira PR issues)."""
        body = await self.request("GET", path, params=params, shape=list)
        return body  # type: ignore[return-value]

    def _wait(
        self, attempt: int, response: httpx.Response | None, lane: Lane | None = None
    ) -> float:
        """Honour Retry-After / X-RateLimit-Reset when sent, else exponential backoff + jitter."""
        lane = lane or self.pool.lanes[0]
        if response is not None:
            hinted = retry_after(response.headers)
            if hinted is not None:
                return 0.0 if self._check_hint(hinted, response, lane) else hinted
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
