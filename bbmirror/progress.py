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
        text = f"  {repository} · {stream}: {count}"[:110]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def done(self) -> None:
        """Clear the status line so the summary prints on a clean line."""
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0
