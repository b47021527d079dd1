"""What a run was asked (Options) and what it did (Summary); the error that stops a source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


class SyncError(Exception):
    """A problem that stops a whole source (bad credentials, unknown workspace...)."""


@dataclass
class Options:
    """What the user asked this run to do."""

    full: bool = False
    reconcile: bool = False
    only: frozenset[str] = frozenset()  # stream names; empty means all
    skip: frozenset[str] = frozenset()  # stream names left out (--skip; config adds its own)
    repos: tuple[str, ...] = ()  # WORKSPACE/SLUG, narrows the source's own list
    adopt_lister: bool = False  # `sync --reconcile`: trust this credential's lists (runs.py)


@dataclass
class Summary:
    """What a run did, for the one-line summary, --json and the run log."""

    source: str
    run_id: int = 0
    outcome: str = "ok"
    repositories: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0
    skipped: int = 0  # stream families the credential may not read (noted, not errors)
    reconciled: bool = False
    started_at: str = ""
    finished_at: str = ""
    message: str | None = None

    def add(self, counts: dict[str, int]) -> None:
        for table, count in counts.items():
            if count:
                self.rows[table] = self.rows.get(table, 0) + count

    def line(self) -> str:
        total = sum(self.rows.values())
        text = (
            f"{self.source}: {self.outcome}, {self.repositories} repositories, "
            f"{total} rows written, {self.requests} requests, {self.errors} errors"
        )
        if self.skipped:
            text += f", {self.skipped} skipped (no permission; see `bbmirror status`)"
        return text + (f" ({self.message})" if self.message else "")


Progress = Callable[[str, str, int], None]  # (repository, stream, items so far)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
