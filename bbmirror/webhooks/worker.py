"""The webhook hub: sources and secrets, the queue, the delivery log, and the worker that
turns queued targets into refreshes with the store's writer lock.

The worker runs on an event loop of its own, in a thread: parsing API pages and writing rows
never delays the receiver's answers (Bitbucket gives up on slow endpoints), however many
deliveries arrive at once. The queue and the delivery log are shared under locks.

The worker takes up to ``BATCH`` targets per turn, opens the store, takes the writer lock
(``Store.acquire_writer_lock``, the same ``flock`` as ``sync`` and ``schedule``), refreshes
them one by one and lets go, so that a scheduled run in this process (``turn.py``) or in
another one (the lock) waits at most one batch. A lock held by another process leaves the
targets queued and is tried again (``RETRY`` s). Refreshes are paced to ``rate`` per second
on top of the client's own request budget.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from bbmirror.config import Secret, Source
from bbmirror.engine.outcome import Options, Summary
from bbmirror.http import BitbucketError
from bbmirror.store.db import Store, StoreError, SyncState
from bbmirror.webhooks import log as delivery_log
from bbmirror.webhooks.events import Target
from bbmirror.webhooks.queue import RefreshQueue
from bbmirror.webhooks.refresh import refresh, refresh_options
from bbmirror.webhooks.turn import scheduled_waiting, webhook_turn
from bbmirror.webhooks.verify import secret_for

log = logging.getLogger("bbmirror.webhooks")
BATCH = 5  # targets per turn of the writer lock
RETRY = 1.0
RATE = 20.0  # refreshes per second, at most


class Hub:
    """Everything the receiver and the worker share, for one database."""

    def __init__(
        self,
        db: str,
        sources: list[Source],
        *,
        secrets: dict[str, Secret | None] | None = None,
        transport: Any = None,
        client_options: dict | None = None,
        options: Options | None = None,
        limit: int | None = None,
        rate: float = RATE,
    ) -> None:
        self.db = db
        self.sources = {s.name: s for s in sources}
        self.secrets = secrets if secrets is not None else {s.name: secret_for(s) for s in sources}
        self.transport = transport
        self.client_options = client_options or {}
        self.options = refresh_options(options)
        self.queue = RefreshQueue(limit) if limit else RefreshQueue()
        self.deliveries = delivery_log.DeliveryLog()
        self.rate = rate
        self.requests = 0  # spent by refreshes, all sources
        self.refreshed = 0
        self.outcomes: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._starting = threading.Lock()
        self._clients: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._starting:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(
                    target=lambda: asyncio.run(self._work()), name="bbmirror-webhooks", daemon=True
                )
                self._thread.start()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker after the refresh in progress (committed pages stay either way)."""
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout)

    async def settled(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or being refreshed (tests, the demo)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.idle() and not self.deliveries.dirty:
                return True
            await asyncio.sleep(0.01)
        return False

    # -- the worker --------------------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while not self._stopping.is_set():
                if not self.queue.pending and not self.deliveries.dirty:
                    await asyncio.sleep(0.02)  # a delivery waits at most this long to start
                    continue
                try:
                    async with webhook_turn(self.db):
                        await self._batch()
                except StoreError as exc:
                    log.info("webhooks: waiting for the writer lock: %s", exc)
                    await asyncio.sleep(RETRY)
                except Exception:  # noqa: BLE001 - the worker must outlive any one batch
                    log.exception("webhooks: a batch failed; its targets wait for the next one")
                    await asyncio.sleep(RETRY)
        finally:
            for client in self._clients.values():  # they belong to this thread's loop
                await client.__aexit__(None, None, None)
            self._clients.clear()

    async def _batch(self) -> None:
        store = Store.open(self.db)
        try:
            store.acquire_writer_lock()
            targets = self.queue.take(BATCH)
            try:
                for target in targets:
                    if scheduled_waiting(self.db) or self._stopping.is_set():
                        break
                    await self._one(store, target)
                    self.queue.done(target)
                    if self.rate:
                        await asyncio.sleep(1.0 / self.rate)
            finally:
                self.queue.requeue(targets)  # those not reached: back in line
            self._save_log(store)
        finally:
            store.close()

    async def _one(self, store: Store, target: Target) -> None:
        source = self.sources[target.source]
        client = await self._client(source)
        before = client.requests
        summary = Summary(source=source.name)
        summary.run_id = None  # type: ignore[assignment]  # errors belong to no run
        engine = _engine(source, store, client, self.options, summary)
        try:
            outcome = await refresh(engine, target)
        except (BitbucketError, StoreError) as exc:
            outcome = "failed"  # the poll reads it again; sync_errors says why
            engine.quarantine("webhooks", f"refresh of {_name(target)} failed: {exc}", {})
        spent = client.requests - before
        self.requests += spent
        self.deliveries.spend(source.name, spent)
        self.refreshed += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        log.info("%s: %s %s (%d requests)", source.name, outcome, _name(target), spent)

    async def _client(self, source: Source) -> Any:
        if source.name not in self._clients:
            from bbmirror.engine.runs import client_for

            client = client_for(source, self.transport, **self.client_options)
            await client.__aenter__()
            self._clients[source.name] = client
        return self._clients[source.name]

    def _save_log(self, store: Store) -> None:
        """The delivery log of each source that changed, for ``status``."""
        for name, extra in self.deliveries.take_dirty().items():
            state = SyncState(name, delivery_log.SCOPE, delivery_log.STREAM, extra=extra)
            store.put_state(state)


def _engine(source: Source, store: Store, client: Any, options: Options, summary: Summary):
    from bbmirror.flavours.cloud.plan import CLOUD_PLAN
    from bbmirror.flavours.cloud.sync import CloudSync
    from bbmirror.flavours.server.plan import SERVER_PLAN
    from bbmirror.flavours.server.sync import ServerSync

    server = source.kind == "server"
    engine_class, plan = (ServerSync, SERVER_PLAN) if server else (CloudSync, CLOUD_PLAN)
    return engine_class(store, client, source, plan.streams, options, summary)


def _name(target: Target) -> str:
    return target.repository + (f"#{target.number}" if target.number else f" ({target.what})")
