"""A live progress line on a terminal; silence everywhere else."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO


class TerminalProgress:
    """Rewrites one status line per update, at most every 100 ms, on stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.last = 0.0
        self.width = 0

    def __call__(self, repository: str, stream: str, count: int) -> None:
        if not self.enabled:
            return
        moment = time.monotonic()
        if moment - self.last < 0.1:
            return
        self.last = moment
        self._show(f"  {repository} · {stream}: {count}")

    def _show(self, text: str) -> None:
        text = text[:110]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def waiting(self, seconds: float, text: str | None = None) -> bool:
        """Show a budget wait on the status line; False when not a terminal (say it elsewhere)."""
        if not self.enabled:
            return False
        minutes = max(1, round(seconds / 60))
        self._show(text or f"  hourly request budget spent; waiting about {minutes} min")
        return True

    def done(self) -> None:
        """Clear the status line so the summary prints on a clean line."""
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


log = logging.getLogger("bbmirror.budget")


class BudgetWaits:
    """Says every budget wait on stderr, in every mode: what, how long, how to raise it.

    On a terminal it is the status line; elsewhere (and in ``schedule``) a warning line,
    repeated at most once a minute while the wait lasts.
    """

    def __init__(self, source: str, budget: int, progress: object = None) -> None:
        self.source, self.budget, self.progress = source, budget, progress
        self.said = -60.0

    def text(self, seconds: float) -> str:
        minutes = max(1, round(seconds / 60))
        return (
            f"{self.source}: hourly request budget of {self.budget} spent; waiting about "
            f"{minutes} min. Raise it with --budget N (config: budget = N) if your Bitbucket "
            "allows more"
        )

    def __call__(self, seconds: float) -> None:
        show = getattr(self.progress, "waiting", None)
        if show is not None and show(seconds, "  " + self.text(seconds)[:106]):
            return
        moment = time.monotonic()
        if moment - self.said >= 60:
            self.said = moment
            log.warning("%s", self.text(seconds))
