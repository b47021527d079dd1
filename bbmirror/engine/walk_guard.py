"""Walkers that follow ``next`` on their own stop when a server leads them in circles.

``BitbucketClient.pages`` guards its own walks; the Cloud keyset walker (when it falls back to
``next``) and the commit walker follow links themselves, so they ask a ``LoopGuard`` before
each page. A link read twice is a loop; more than ``MAX_PAGES`` pages in one walk is absurd
(10,000 pages is 500,000 pull requests or a million commits: far beyond any repository, and
ten hours of Cloud's hourly budget) and means links that creep without end. The walker records
the problem in ``sync_errors`` and moves on to the next stream.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_PAGES = 10_000


class LoopGuard:
    """One walk's pages so far and the links it has followed."""

    def __init__(self) -> None:
        self.pages = 0
        self.seen: set[str] = set()

    def problem(self, link: object) -> str | None:
        """Why the walk must stop before its next page (``link``: the ``next`` link it would
        follow, or None for a keyset query), or None to go on."""
        self.pages += 1
        if self.pages >= MAX_PAGES:
            return f"more than {MAX_PAGES} pages in one walk: the server's paging never ends"
        if link is None:
            return None
        if not isinstance(link, str):
            return "'next' is not a link"
        if link in self.seen:
            return f"page loop: {urlsplit(link).path} was already read"
        self.seen.add(link)
        return None
