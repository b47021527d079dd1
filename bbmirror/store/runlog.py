"""Sources, sync checkpoints, the run log and quarantined records: the Store's bookkeeping.

Hand-written rather than sqlite-utils' ``insert``/``upsert``: each is one statement inside the
Store's own write transaction, and sqlite-utils would read the table's shape on every call
(``put_state`` runs once per page). Choices where the brief is silent:

- ``start_run`` drops option values whose key names a credential (token, password, secret...);
  the store should never see one, and this keeps a careless caller from storing it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from bbmirror.http.scrub import scrub, scrub_value
from bbmirror.rows import to_utc


def now() -> str:
    """The current time in the store's timestamp format."""
    return to_utc(datetime.now(UTC)) or ""


@dataclass
class SyncState:
    """Where one stream of one scope stands: watermark (server time), resume URL, heads."""

    source: str
    scope: str
    stream: str
    watermark: str | None = None
    resume: str | None = None
    heads: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    updated_at: str | None = None


def _scrub(value: Any) -> Any:
    """Remove credential-looking keys and every credential form from run options."""
    return scrub_value(value)


def _text(message: str | None) -> str | None:
    return scrub(message) if message else message


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RunLog:
    """The Store's bookkeeping methods (mixed into ``Store``)."""

    conn: sqlite3.Connection

    if TYPE_CHECKING:  # provided by Store

        def transaction(self) -> AbstractContextManager[None]: ...

    def put_source(self, name: str, kind: str, base_url: str | None) -> None:
        """Record a configured Bitbucket instance (any user:password in the URL is dropped)."""
        url = _strip_userinfo(base_url) if base_url else None
        stamp = now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO sources (id, kind, base_url, added_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET kind = excluded.kind,"
                " base_url = excluded.base_url, updated_at = excluded.updated_at",
                (name, kind, url, stamp, stamp),
            )

    def get_state(self, source: str, scope: str, stream: str) -> SyncState | None:
        row = self.conn.execute(
            "SELECT watermark, resume, heads, extra, updated_at FROM sync_state"
            " WHERE source = ? AND scope = ? AND stream = ?",
            (source, scope, stream),
        ).fetchone()
        if row is None:
            return None
        return SyncState(
            source,
            scope,
            stream,
            watermark=row[0],
            resume=row[1],
            heads=json.loads(row[2]) if row[2] else {},
            extra=json.loads(row[3]) if row[3] else {},
            updated_at=row[4],
        )

    def put_state(self, state: SyncState) -> None:
        """Save a stream's checkpoint; ``updated_at`` is set to now (local bookkeeping time)."""
        state.updated_at = now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO sync_state"
                " (source, scope, stream, watermark, resume, heads, extra, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, scope, stream) DO UPDATE"
                " SET watermark = excluded.watermark, resume = excluded.resume,"
                " heads = excluded.heads, extra = excluded.extra, updated_at = excluded.updated_at",
                (
                    state.source,
                    state.scope,
                    state.stream,
                    state.watermark,
                    state.resume,
                    json.dumps(state.heads, sort_keys=True),
                    json.dumps(state.extra, sort_keys=True),
                    state.updated_at,
                ),
            )

    def start_run(self, source: str, options: Mapping[str, Any]) -> int:
        """Log the start of a sync run; return its id."""
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO sync_runs (source, started_at, outcome, options, pid)"
                " VALUES (?, ?, 'running', ?, ?)",
                (source, now(), json.dumps(_scrub(options), default=str), os.getpid()),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        rows: Mapping[str, int],
        requests: int,
        errors: int,
        message: str | None,
    ) -> None:
        """Log how a run ended: outcome (e.g. ok/partial/failed), rows per table, counts."""
        with self.transaction():
            self.conn.execute(
                "UPDATE sync_runs SET finished_at = ?, outcome = ?, rows = ?, requests = ?,"
                " errors = ?, message = ? WHERE id = ?",
                (now(), outcome, json.dumps(dict(rows)), requests, errors, _text(message), run_id),
            )

    def record_error(
        self, run_id: int | None, source: str, stream: str, reason: str, payload: str
    ) -> int:
        """Quarantine one bad record: why it failed and what it was. Returns the error id."""
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO sync_errors (run_id, source, stream, reason, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, source, stream, scrub(reason), scrub(payload), now()),
            )
        return int(cursor.lastrowid or 0)
