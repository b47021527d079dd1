"""Turning an answer's bytes into what the caller asked for: JSON of a shape, or ``Raw`` bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bbmirror.http.errors import BadPayload, Garbled, loads, short

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Raw:
    """A 2xx answer as it came (``request(..., shape=Raw)``): an export job's status or zip."""

    status: int
    headers: dict[str, str]  # names lowercased
    content: bytes


def decode(response: httpx.Response, content: bytes, shape: type = dict) -> Any:
    """An answer's JSON as ``shape`` expects it; garbled or mistyped bodies say so plainly."""
    url = str(response.url)
    if response.status_code == 204 or not content:
        return shape()
    try:
        body = loads(content)
    except (ValueError, RecursionError):
        raise Garbled(
            BadPayload(
                f"{short(url)} answered {response.status_code} with invalid JSON "
                f"({len(content):,} bytes, truncated or garbled) after retries",
                status=response.status_code,
                url=url,
            )
        ) from None
    if not isinstance(body, shape):
        raise BadPayload(
            f"{short(url)} answered with a JSON {type(body).__name__}, "
            f"not {'an object' if shape is dict else 'an array'}",
            url=url,
        )
    return body
