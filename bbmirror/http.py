"""The one HTTP client: auth, a pacing budget, retries with backoff, safe paging.

Every request bbmirror makes goes through `BitbucketClient`, so there is exactly one place
that holds a credential, counts requests, waits out rate limits and refuses to follow a
`next` link to another host (which would hand the token to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
import orjson

from bbmirror.config import Credentials

Params = Sequence[tuple[str, str]] | dict[str, Any] | None

RETRY_STATUSES = {429, 500, 502, 503, 504, 555}


class BitbucketError(Exception):
    """A failed request, with a one-line message that never contains a credential."""

    def __init__(self, message: str, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class AuthError(BitbucketError):
    """401/403: the credential is wrong, expired or lacks a scope."""


class NotFound(BitbucketError):
    """404: no such resource, or not visible to this credential."""


class Gone(BitbucketError):
    """410: the resource was removed (e.g. Cloud's issue tracker since 2026-08-20)."""


class Unreachable(BitbucketError):
    """The host could not be reached even after retries."""


class BadPayload(BitbucketError):
    """The server answered with something that is not the JSON we expect."""


@dataclass
class Page:
    """One page of a paged collection."""

    url: str
    values: list[dict]
    next: str | None
    body: dict


class Pacer:
    """A rolling-hour request budget per credential: spend it, then wait for the oldest to age."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self.sent: deque[float] = deque()

    def delay(self) -> float:
        """Seconds to wait before the next request fits in the budget."""
        now = self.clock()
        while self.sent and now - self.sent[0] >= 3600:
            self.sent.popleft()
        if len(self.sent) < self.per_hour:
            return 0.0
        return 3600 - (now - self.sent[0])

    def spend(self) -> None:
        self.sent.append(self.clock())


class BitbucketClient:
    """An async client bound to one Bitbucket base URL and one credential."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None = None,
        *,
        budget: int = 1000,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 60.0,
        rng: random.Random | None = None,
        on_wait: Callable[[float], None] | None = None,
        paging: str = "cloud",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.on_wait = on_wait  # told when the hourly budget makes us wait
        self.paging = paging  # "cloud": follow `next`; "server": `start` = `nextPageStart`
        self.credentials = credentials or Credentials()
        self.pacer = Pacer(budget)
        self.semaphore = asyncio.Semaphore(concurrency)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.requests = 0
        self.retried = 0
        self.server_date: datetime | None = None  # the last response's Date header (its clock)
        self._origin = _origin(self.base_url)
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "bbmirror"},
            follow_redirects=False,
        )

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

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        form: str | None = None,
        shape: type = dict,
    ) -> dict:
        """Send one request with pacing and retries; return the decoded JSON object."""
        url = self.url(path)
        if _origin(url) != self._origin:
            raise BitbucketError(
                f"refusing to send credentials to {_origin(url)}: it is not {self._origin}",
                url=url,
            )
        attempt = 0
        while True:
            response = None
            refused = False
            async with self.semaphore:
                await self._pace()
                try:
                    headers = self.credentials.header()
                    if form is not None:
                        headers["Content-Type"] = "application/x-www-form-urlencoded"
                    response = await self._http.request(
                        method, url, params=params, content=form, headers=headers
                    )
                except httpx.TransportError as exc:
                    refused = isinstance(exc, httpx.ConnectError)
                    last_error: BitbucketError = Unreachable(
                        f"cannot reach {self._origin} ({type(exc).__name__}): check the URL "
                        "and your network",
                        url=url,
                    )
            if response is not None:
                self.server_date = _server_date(response.headers) or self.server_date
                if response.status_code < 300:
                    return self._decode(response, shape)
                if response.status_code not in RETRY_STATUSES:
                    raise self._error(response)
                last_error = self._error(response)
            attempt += 1
            # A host that refuses connections outright is rarely back in seconds: give up
            # sooner than on a dropped connection or a 5xx.
            limit = min(self.retries, 2) if refused else self.retries
            if attempt > limit:
                raise last_error
            self.retried += 1
            await asyncio.sleep(self._wait(attempt, response))

    async def pages(self, path: str, params: Params = None) -> AsyncIterator[Page]:
        """Walk a paged collection; stop on a page loop.

        Cloud pages are followed through their opaque ``next`` link; Server pages by asking
        again with ``start`` = the ``nextPageStart`` the server gave (never ``start + size``).
        """
        url: str | None = str(httpx.URL(self.url(path), params=params or {}))
        seen: set[str] = set()
        while url:
            body = await self.get(url)
            values = body.get("values")
            if not isinstance(values, list):
                raise BadPayload(f"expected a page with 'values' from {_short(url)}", url=url)
            following = self._following(url, body)
            if following:
                if following in seen:
                    raise BadPayload(f"page loop: {_short(following)} was already read", url=url)
                seen.add(following)
            yield Page(url=url, values=values, next=following, body=body)
            url = following

    def _following(self, url: str, body: dict) -> str | None:
        if self.paging == "server":
            start = body.get("nextPageStart")
            if body.get("isLastPage", True) or start is None:
                return None
            if not isinstance(start, int):
                raise BadPayload(f"'nextPageStart' is not a number in {_short(url)}", url=url)
            return str(httpx.URL(url).copy_set_param("start", str(start)))
        following = body.get("next")
        if following is not None and not isinstance(following, str):
            raise BadPayload(f"'next' is not a link in {_short(url)}", url=url)
        return urljoin(url, following) if following else None

    async def get_list(self, path: str, params: Params = None) -> list:
        """GET an endpoint that answers with a bare JSON array (Server's Jira PR issues)."""
        body = await self.request("GET", path, params=params, shape=list)
        return body  # type: ignore[return-value]

    async def _pace(self) -> None:
        delay = self.pacer.delay()
        if delay > 1 and self.on_wait:
            self.on_wait(delay)
        while delay > 0:
            await asyncio.sleep(delay)
            delay = self.pacer.delay()
        self.pacer.spend()
        self.requests += 1

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        """Honour Retry-After / X-RateLimit-Reset when sent, else exponential backoff + jitter."""
        if response is not None:
            hinted = _retry_after(response.headers)
            if hinted is not None:
                return min(hinted, 3600.0)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def _decode(self, response: httpx.Response, shape: type = dict) -> Any:
        if response.status_code == 204 or not response.content:
            return shape()
        try:
            body = _loads(response.content)
        except (ValueError, RecursionError):
            raise BadPayload(
                f"{_short(str(response.url))} answered {response.status_code} with invalid JSON",
                status=response.status_code,
                url=str(response.url),
            ) from None
        if not isinstance(body, shape):
            raise BadPayload(
                f"{_short(str(response.url))} answered with a JSON {type(body).__name__}, "
                f"not {'an object' if shape is dict else 'an array'}",
                url=str(response.url),
            )
        return body

    def _error(self, response: httpx.Response) -> BitbucketError:
        status = response.status_code
        url = str(response.url)
        detail = self._scrub(_error_message(response))
        where = _short(url)
        if status == 401:
            return AuthError(
                f"Bitbucket rejected the credentials ({self.credentials.label}) at {where}: "
                "check the token or email + API token",
                status,
                url,
            )
        if status == 403:
            return AuthError(
                f"the credentials ({self.credentials.label}) may not read {where}: "
                f"they lack a permission or scope ({detail})",
                status,
                url,
            )
        if status == 404:
            return NotFound(f"{where} was not found ({detail})", status, url)
        if status == 410:
            return Gone(f"{where} is gone ({detail})", status, url)
        return BitbucketError(f"{where} answered HTTP {status}: {detail}", status, url)

    def _scrub(self, text: str) -> str:
        for secret in self.credentials.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text


def _loads(content: bytes) -> Any:
    """orjson, or the stdlib for valid JSON orjson refuses (a lone surrogate escape, issue 11.4)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _short(url: str) -> str:
    """A URL without its query string, for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:200]
        errors = body.get("errors")  # Server's {"errors": [{"message": ...}]}
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", "no detail"))[:200]
    return response.reason_phrase or "no detail"


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            moment = email.utils.parsedate_to_datetime(value)
            if moment is not None:
                return max(0.0, moment.timestamp() - time.time())
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            stamp = float(reset)
        except ValueError:
            return None
        # Epoch seconds when large, else seconds to wait.
        return max(0.0, stamp - time.time()) if stamp > 1e9 else stamp
    return None


def _server_date(headers: httpx.Headers) -> datetime | None:
    """The server's clock from its ``Date`` header(s) (the earliest, if a proxy added one)."""
    found = []
    for value in headers.get_list("date"):
        with contextlib.suppress(TypeError, ValueError, IndexError):
            moment = email.utils.parsedate_to_datetime(value)
            if moment.tzinfo is not None:
                found.append(moment)
    return min(found, default=None)
