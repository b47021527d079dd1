"""Guards for one walk through a paged list: it must end, and in a sane number of pages.

A lying or broken server can send a ``next`` link back to a page already read, a Data Center
``nextPageStart`` that repeats or creeps forward by one while each page holds a full ``limit``
of values, the same page again under a new link, or pages for ever. Each is a `PageLoop`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import httpx
import orjson

from bbmirror.http.errors import PageLoop, short

MAX_PAGES = 10_000  # the hard cap: a million Cloud values at pagelen 100, ten hours of budget
SLACK_PAGES = 5  # pages allowed beyond what Cloud's `size` promised (the list may grow)
CREEP_AFTER = 3  # pages read before the advance/values ratio is judged


@dataclass
class PageGuard:
    """Checks each page of one walk; raises `PageLoop` naming what went wrong."""

    first: str
    paging: str = "cloud"
    max_pages: int = MAX_PAGES
    limit: int = 0
    pages: int = 0
    values: int = 0
    advance: int = 0
    seen: set[str] = field(default_factory=set)
    previous: bytes | None = None

    def __post_init__(self) -> None:
        self.limit = self.max_pages
        self.seen.add(self.first)

    def check(self, url: str, body: dict, values: list, following: str | None) -> None:
        """Call once per page, before the page is handed on."""
        self.pages += 1
        where = short(self.first)
        if self.pages == 1 and self.paging == "cloud":
            self._cap_from_size(body)
        if self.pages > self.limit:
            raise PageLoop(
                f"{where} went on past {self.limit} pages (the server keeps sending `next`); "
                "stopped there",
                url=url,
            )
        digest = hashlib.sha1(_fingerprint(values), usedforsecurity=False).digest()
        if values and digest == self.previous:
            raise PageLoop(f"page loop: {where} sent the same page again under a new link", url=url)
        self.previous = digest
        if following is None:
            return
        if following in self.seen:
            raise PageLoop(f"page loop: {short(following)} was already read", url=url)
        self.seen.add(following)
        if self.paging == "server":
            self._check_advance(url, following, len(values))

    def _cap_from_size(self, body: dict) -> None:
        """Cloud's optional `size` (total) and `pagelen` say how many pages to expect."""
        size, pagelen = body.get("size"), body.get("pagelen")
        if isinstance(size, int) and isinstance(pagelen, int) and size >= 0 and pagelen > 0:
            self.limit = min(self.max_pages, math.ceil(size / pagelen) * 2 + SLACK_PAGES)

    def _check_advance(self, url: str, following: str, count: int) -> None:
        start, after = _start(url), _start(following)
        where = short(self.first)
        if after <= start:
            raise PageLoop(
                f"page loop: {where} answered nextPageStart {after} for start {start}", url=url
            )
        self.advance += after - start
        self.values += count
        if self.pages >= CREEP_AFTER and self.advance * 2 < self.values:
            raise PageLoop(
                f"page loop: {where} moved nextPageStart by {self.advance} over {self.pages} "
                f"pages of {self.values} values (it re-serves what was read)",
                url=url,
            )


def _start(url: str) -> int:
    value = httpx.URL(url).params.get("start", "0")
    return int(value) if value.isdigit() else 0


def _fingerprint(values: list) -> bytes:
    """The page's bytes for loop detection; the stdlib takes what orjson refuses (surrogates)."""
    try:
        return orjson.dumps(values)
    except TypeError:  # a lone surrogate, or nesting deeper than orjson goes
        try:
            return json.dumps(values, default=str).encode()
        except RecursionError:  # nested absurdly deep: the values' identities will do
            keys = ("id", "hash", "name", "displayId", "updated_on", "updatedDate")
            ids = [[v.get(k) for k in keys] if isinstance(v, dict) else v for v in values]
            return repr(ids).encode("utf-8", "surrogatepass")
