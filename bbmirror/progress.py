"""A live progress line on a terminal; silence everywhere else."""

from __future__ import annotations

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

    def waiting(self, seconds: float) -> None:
        """Say why nothing moves: the hourly request budget is spent."""
        if self.enabled:
            minutes = max(1, round(seconds / 60))
            self._show(f"  hourly request budget spent; waiting about {minutes} min")

    def done(self) -> None:
        """Clear the status line so the summary prints on a clean line."""
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0
