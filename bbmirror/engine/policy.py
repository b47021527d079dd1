"""One policy for 403, 404 and 410 (issue 12.3), and backoff for children that keep failing.

Each stream declares what a status means (``Stream.statuses``, see
``bbmirror.engine.streams``); every walker asks ``Engine.failure`` and gets one of:

- ``absent``: the feature is off (a disabled tracker): nothing to mirror, nothing recorded;
- ``denied``: the credential may not read the stream's family. The family is skipped for the
  rest of the run (no more requests), with ONE warning line and ONE ``sync_errors`` row
  ("skipped: ...") that ``status`` shows;
- ``removed``: removed upstream for good (Cloud's issue tracker, 410): remembered in the sync
  state so later runs stop asking (re-checked on ``--full`` or ``--reconcile``); mirrored rows
  stay as they are;
- ``deleted``: a parent vanished while its children were read: noted, the parent is read
  again next run (then reconciliation decides), nothing tombstoned on a guess;
- ``failed``: recorded in ``sync_errors``; the other streams go on.

A child list that keeps failing (issue 11.7) does not hold its parent stream back: the parent
goes on the redo list with a failure count ``k`` and is skipped for ``2**(k-1) - 1`` runs before
the next try (0, 1, 3, 7... so a one-off failure is retried on the very next run), while the walk
and its watermark move on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bbmirror.engine.streams import ABSENT, DELETED, DENIED, FAILED, REMOVED, Context, Stream
from bbmirror.http import AuthError, BitbucketError, Gone, NotFound, Unreachable
from bbmirror.store.db import SyncState

if TYPE_CHECKING:
    from bbmirror.config import Source
    from bbmirror.http import BitbucketClient
    from bbmirror.store.db import Store

log = logging.getLogger("bbmirror.sync")

TRACKER = "issue_tracker"  # sync_state stream name remembering a removed tracker


class StatusPolicy:
    """The mixin ``Engine`` uses to apply the declared status policy (see the module doc)."""

    # set by Engine.__init__ / the flavour
    store: Store
    client: BitbucketClient
    source: Source
    options: Any
    streams: dict[str, Stream]
    progress: Callable
    quarantine: Callable[..., None]
    read_parents: Callable
    write_parents: Callable
    run_full: Callable
    guarded: Callable
    wanted: Callable[[str], bool]
    denied: dict[str, str]
    pending: list[tuple[str, str, str]]
    condensed: set[str]
    auth_means_denied: bool = False  # Server: a 401 after a good preflight is a permission

    def skip_key(self, stream: Stream, ctx: Context | None, exc: BitbucketError | None) -> str:
        """What one denial skips: the whole family when a scope is missing (Cloud's "privilege
        scopes" 403, a credential-wide fact), else that family of one repository (a permission,
        as Server's 401 and a Cloud 403 on one private repository are)."""
        repo = (ctx or {}).get("repository_id")
        if repo and (exc is None or "privilege scopes" not in str(exc)):
            return f"{stream.family}:{repo}"
        return stream.family

    def is_denied(self, stream: Stream, ctx: Context | None = None) -> bool:
        repo = (ctx or {}).get("repository_id")
        return stream.family in self.denied or f"{stream.family}:{repo}" in self.denied

    def stream_named(self, name: str) -> Stream | None:
        return self.streams.get(name.rsplit(" ", 1)[-1])

    def failure(self, stream: Stream, exc: BitbucketError, ctx: Context | None = None) -> str:
        """Apply the declared meaning of a failed request; return it (re-raise fatal ones)."""
        if isinstance(exc, Unreachable):
            raise exc
        status = exc.status
        if isinstance(exc, AuthError) and status == 401 and not self.auth_means_denied:
            raise exc  # a wrong or expired credential stops the source
        if status == 401:
            status = 403  # Server answers a missing permission with 401 (§5)
        meaning = stream.meaning(status)
        if meaning == DENIED:
            self.deny(stream, exc, ctx)
        elif meaning == REMOVED and ctx is not None:
            self.remember_removed(ctx)
        elif meaning == ABSENT:
            where = (ctx or {}).get("full_name", "")
            log.info(
                "%s: %s %s is off (%s): nothing to mirror",
                self.source.name,
                where,
                stream.name,
                status,
            )
        elif meaning == FAILED:
            self.quarantine(stream.name, str(exc), {"url": exc.url, "status": exc.status})
        return meaning

    def deny(self, stream: Stream, exc: BitbucketError, ctx: Context | None) -> None:
        """Skip a family for the rest of the run: one warning line, one recorded note."""
        key = self.skip_key(stream, ctx, exc)
        if key in self.denied:
            return
        if key == stream.family:
            reason = (
                f"skipped: the credential lacks the {stream.family} scope ({exc.status}); "
                f"{stream.family} streams were not read"
            )
        else:
            reason = (
                f"skipped: the credential may not read the {stream.family} streams of "
                f"{(ctx or {}).get('full_name')} ({exc.status})"
            )
        self.denied[key] = reason
        payload = {"url": exc.url, "status": exc.status, "skipped": key}
        self.note(stream.name, reason, payload, denied=True)

    def note(self, stream: str, reason: str, payload: dict, *, denied: bool = False) -> None:
        """A skip: a warning line on stderr and a ``sync_errors`` row that ``status`` shows.

        What the credential may not read (``denied``) is the user's choice of credential, not
        a fault: it is counted as skipped, not as an error, so the run can still end ``ok``.
        """
        source = self.source.name
        log.warning("%s: %s", source, reason)
        warn = getattr(self.progress, "warn", None)
        if warn is not None:
            warn(f"{source}: {reason}")
        if self.store is None:
            self.pending.append((stream, reason, json.dumps(payload), denied))  # preflight's
        else:
            self.quarantine(stream, reason, json.dumps(payload), counts=not denied)

    def flush_notes(self) -> None:
        """Record the notes the preflight made before the store was open."""
        while self.pending:
            stream, reason, payload, denied = self.pending.pop(0)
            self.quarantine(stream, reason, payload, counts=not denied)

    async def redo(self, stream: Stream, ctx: Context, state: SyncState) -> None:
        """Read again the parents whose children failed last time, forcing their children."""
        numbers = state.extra.get("redo")
        if not numbers:
            return
        path = stream.path.format(**ctx)
        found, waiting, unread = [], [], set()
        for number in numbers:
            if not due_now(state, number):
                waiting.append(number)  # backing off after repeated failures (issue 11.7)
                continue
            if self.is_denied(stream, ctx):
                unread.add(number)  # its family is skipped this run (noted once)
                continue
            try:
                found.append(await self.client.get(f"{path}/{number}"))
            except (NotFound, Gone):
                settle(state, {number}, set())
                continue  # gone since: the next complete list or reconciliation says so
            except BitbucketError as exc:
                if self.failure(stream, exc, ctx) != DELETED:
                    unread.add(number)
        page = await self.read_parents(stream, ctx, found, force=True)
        page.failed |= unread
        with self.store.transaction():
            state.extra["redo"] = waiting
            self.write_parents(stream, page, state)
            self.store.put_state(state)

    # -- a removed issue tracker ----------------------------------------------------------

    def is_removed(self, ctx: Context) -> bool:
        """Whether the repository's issue tracker is remembered as removed (410)."""
        state = self.store.get_state(self.source.name, ctx["repository_id"], TRACKER)
        return bool(state and state.extra.get("removed"))

    def remember_removed(self, ctx: Context) -> None:
        """Cloud answered 410 for the tracker: stop asking until --full or --reconcile."""
        store, source = self.store, self.source.name
        state = store.get_state(source, ctx["repository_id"], TRACKER) or SyncState(
            source=source, scope=ctx["repository_id"], stream=TRACKER
        )
        if not state.extra.get("removed"):
            state.extra["removed"] = True
            with store.transaction():
                store.put_state(state)
            log.info("%s: the issue tracker was removed upstream (410)", ctx.get("full_name"))

    def forget_removed(self, ctx: Context) -> None:
        """A re-check found the tracker answering again."""
        store, source = self.store, self.source.name
        state = store.get_state(source, ctx["repository_id"], TRACKER)
        if state and state.extra.get("removed"):
            state.extra["removed"] = False
            with store.transaction():
                store.put_state(state)


def due_now(state: SyncState, number: int) -> bool:
    """Whether a parent on the redo list is tried this run; counts a skipped run down."""
    waits = state.extra.setdefault("redo_wait", {})
    left = int(waits.get(str(number), 0))
    if left > 0:
        waits[str(number)] = left - 1
        return False
    return True


def settle(state: SyncState, tried: set[int], failed: set[int]) -> None:
    """After a try: after ``k`` failures in a row skip ``2**(k-1) - 1`` runs; forget successes."""
    counts = state.extra.setdefault("redo_failures", {})
    waits = state.extra.setdefault("redo_wait", {})
    for number in tried - failed:
        counts.pop(str(number), None)
        waits.pop(str(number), None)
    for number in failed:
        k = int(counts.get(str(number), 0)) + 1
        counts[str(number)] = k
        waits[str(number)] = 2 ** (k - 1) - 1


__all__ = ["ABSENT", "StatusPolicy", "due_now", "settle"]
