"""An undecoded answer, for the few endpoints that send bytes rather than JSON."""

from __future__ import annotations

from dataclasses import dataclass

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Raw:
    """A 2xx answer as it came (``request(..., shape=Raw)``): an export job's status or zip."""

    status: int
    headers: dict[str, str]  # names lowercased
    content: bytes
