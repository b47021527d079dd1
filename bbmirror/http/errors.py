"""What the HTTP client raises, and the helpers that read a response and phrase it safely.

Every message goes through `scrub`, so no credential form reaches an exception text.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson

from bbmirror.http.scrub import scrub

if TYPE_CHECKING:
    from bbmirror.config import Credentials


class BitbucketError(Exception):
    """A failed request, with a one-line message that never contains a credential."""

    def __init__(self, message: str, status: int | None = None, url: str | None = None):
        super().__init__(scrub(message))
        self.status = status
        self.url = scrub(url) if url else url


class AuthError(BitbucketError):
    """401/403: the credential is wrong, expired or lacks a scope."""


class NotFound(BitbucketError):
    """404: no such resource, or not visible to this credential."""


class Gone(BitbucketError):
    """410: the resource was removed (e.g. Cloud's issue tracker since 2026-08-20)."""


class Unreachable(BitbucketError):
    """The host could not be reached even after retries."""


class RateLimited(Unreachable):
    """The server asked us to wait longer than we will: nothing more is read this run."""


class BadPayload(BitbucketError):
    """The server answered with something that is not the JSON we expect."""


class PageLoop(BadPayload):
    """A paged list that never ends: a repeated page, a creeping start, absurdly many pages."""


class DeadlineExceeded(BitbucketError):
    """One request took longer than the client's total deadline (a hanging or trickling host)."""


class ResponseTooLarge(BitbucketError):
    """A response body above the client's size cap; it is dropped, not kept in memory."""


def loads(content: bytes) -> Any:
    """orjson, or the standard library for what orjson refuses but JSON allows (an escaped
    lone surrogate in one title must not cost the whole page: the record is judged later)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


class Garbled(Exception):
    """Internal to the client: a 2xx whose body is not JSON; retried, then its `error` is raised."""

    def __init__(self, error: BadPayload) -> None:
        self.error = error


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def short(url: str) -> str:
    """A URL without its query string or user info, for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{_port(parts)}{parts.path}"


def _port(parts) -> str:
    try:
        return f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""


def error_message(response: httpx.Response, content: bytes) -> str:
    """The server's own one-line reason (Cloud's ``error.message``, Server's ``errors``)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return response.reason_phrase or "no detail"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return scrub(str(error["message"]))[:200]
        errors = body.get("errors")  # Server's {"errors": [{"message": ...}]}
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return scrub(str(errors[0].get("message", "no detail")))[:200]
    return response.reason_phrase or "no detail"


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asked us to wait (Retry-After, X-RateLimit-Reset), if it said."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                moment = None
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


def human(seconds: float) -> str:
    """1.5 h, 12 min, 40 s: how long a wait is, for people."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def server_date(headers: httpx.Headers) -> datetime | None:
    """The server's clock from its ``Date`` header(s) (the earliest, if a proxy added one)."""
    found = []
    for value in headers.get_list("date"):
        with contextlib.suppress(TypeError, ValueError, IndexError):
            moment = email.utils.parsedate_to_datetime(value)
            if moment.tzinfo is not None:
                found.append(moment)
    return min(found, default=None)


def response_error(
    response: httpx.Response, content: bytes, credentials: Credentials
) -> BitbucketError:
    """The error for a refused request, naming the credential by its label only."""
    status = response.status_code
    url = str(response.url)
    detail = scrub(error_message(response, content), credentials.secrets())
    where = short(url)
    if status == 401:
        return AuthError(
            f"Bitbucket rejected the credentials ({credentials.label}) at {where}: "
            "check the token or email + API token",
            status,
            url,
        )
    if status == 403:
        return AuthError(
            f"the credentials ({credentials.label}) may not read {where}: "
            f"they lack a permission or scope ({detail})",
            status,
            url,
        )
    if status == 404:
        return NotFound(f"{where} was not found ({detail})", status, url)
    if status == 410:
        return Gone(f"{where} is gone ({detail})", status, url)
    return BitbucketError(f"{where} answered HTTP {status}: {detail}", status, url)
