"""Keeps a mirror fresh on its own: APScheduler jobs per source, one writer per database.

Each source gets an interval job (``every``) with jitter, ``max_instances=1``, ``coalesce`` and
a misfire grace time, and a slower reconciliation job (``every`` x ``reconcile_every``). Runs
log one line each to the ``bbmirror.schedule`` logger.

Choices where the brief is silent:

- The first run of each source starts at once; reconciliation first runs one reconciliation
  interval after start. Scheduled runs reconcile only through that job (the engine's own
  "every N ok runs" counter is switched off for them), so it is never done twice. A
  reconciliation that falls due while the source's run is going, or while it backs off, is
  carried out by the source's next run.
- Jitter is 10% of the interval (at most a minute); the misfire grace time is half the
  interval (between 1 s and 10 min). ``coalesce`` turns a backlog into one run.
- After ``k`` consecutive failures the next run waits ``every x 2**k``, capped at
  ``max_backoff`` (default an hour, never less than ``every``); a success resets it. A run that
  finishes ``partial`` (something was not read) is logged as a warning with its outcome; it
  neither resets nor adds to the failure count.
- One scheduler owns a database: it holds an ``flock`` on ``<db>.schedule.lock`` from its first
  run on. A second scheduler on the same database logs a skip at every run and never writes; it
  takes over when the owner dies (the OS drops a dead process's locks, even after SIGKILL).
  The owner's event loop beats a heartbeat into the lock file every ``HEARTBEAT`` s; one older
  than ``stale_after`` (10 min) means a stopped (SIGSTOP) or hung owner: the second scheduler
  warns at every run, naming the pid (``status`` shows it too), but does not take over, as
  the owner still holds its locks and would write again once continued.
  Between runs the writer lock is free, so a manual ``bbmirror sync`` still works; a run that
  finds it held skips and says so.
- Runs of different sources in one process take turns (they share the database's writer lock).
- Stopping cancels the running sync: the engine commits per page and holds no transaction
  across an await, so the last committed page stays, and the run log says ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bbmirror.config import ConfigError, Source
from bbmirror.engine import Options, Summary, SyncError, sync_sources
from bbmirror.http import BitbucketError
from bbmirror.store.pidlock import Holder, PidLock
from bbmirror.store.schema import StoreError
from bbmirror.webhooks.turn import scheduled_run

log = logging.getLogger("bbmirror.schedule")

MAX_BACKOFF = 3600.0
STOP_TIMEOUT = 10.0
HEARTBEAT = 30.0  # seconds between the owner's heartbeats
STALE_AFTER = 600.0  # a heartbeat this old means the owner stopped making progress
BUSY = "another bbmirror sync is writing"


@dataclass(frozen=True)
class Timing:
    """When one source's jobs fire."""

    every: float
    jitter: float
    grace: int
    reconcile: float | None


def timing(source: Source) -> Timing:
    """Interval, jitter, misfire grace and reconciliation interval for a source."""
    every = max(float(source.every), 1.0)
    reconcile = every * source.reconcile_every if source.reconcile_every > 0 else None
    return Timing(every, min(every * 0.1, 60.0), int(min(max(every / 2, 1.0), 600.0)), reconcile)


def backoff_delay(every: float, failures: int, cap: float = MAX_BACKOFF) -> float:
    """Seconds before the next try after `failures` consecutive failures."""
    return min(every * 2 ** min(failures, 32), max(cap, every))


@dataclass
class SourceJobs:
    """What the scheduler knows about one source between runs."""

    source: Source
    timing: Timing
    task: asyncio.Task | None = None
    failures: int = 0
    reconcile_pending: bool = False


class Scheduler:
    """An AsyncIOScheduler syncing each source into one database; start inside a running loop."""

    def __init__(
        self,
        db: str,
        sources: list[Source],
        *,
        transport: Any = None,
        client_options: dict | None = None,
        before_run: Callable[[Source], None] | None = None,
        max_backoff: float = MAX_BACKOFF,
        first_run: float = 0.0,
        runs: int | None = None,
        options: Options | None = None,
        heartbeat: float = HEARTBEAT,
        stale_after: float = STALE_AFTER,
    ) -> None:
        if not sources:
            raise ConfigError("nothing to schedule: configure at least one source")
        self.db = str(Path(db).expanduser().absolute())
        self.jobs = {s.name: SourceJobs(s, timing(s)) for s in sources}
        self.transport = transport
        self.client_options = client_options
        self.before_run = before_run
        self.max_backoff = max_backoff
        self.first_run = first_run
        self.runs = runs  # stop after this many runs (None: until told)
        self.options = options or Options()  # --only, --repo...: every run's base options
        self.heartbeat = heartbeat
        self.stale_after = stale_after
        self._beating: asyncio.Task | None = None
        self.completed = 0
        self.done = asyncio.Event()  # set it to stop; run_until_done waits for it
        self.stopping = False
        self.owner = PidLock(f"{self.db}.schedule.lock")  # one scheduler per database
        self.aps: AsyncIOScheduler | None = None
        self._turn: asyncio.Lock | None = None

    def start(self) -> None:
        """Add the jobs and start scheduling (call from a coroutine on the loop to use)."""
        self._turn = asyncio.Lock()
        self.aps = AsyncIOScheduler(timezone=UTC)
        first = datetime.now(UTC) + timedelta(seconds=self.first_run)
        for name, jobs in self.jobs.items():
            t = jobs.timing
            common = dict(max_instances=1, coalesce=True, misfire_grace_time=t.grace)
            self.aps.add_job(
                self.run, "interval", seconds=t.every, jitter=t.jitter, args=[name],
                id=f"sync:{name}", name=name, next_run_time=first, **common,
            )  # fmt: skip
            if t.reconcile:
                self.aps.add_job(
                    self.reconcile, "interval", seconds=t.reconcile, args=[name],
                    id=f"reconcile:{name}", name=name, **common,
                )  # fmt: skip
        self.aps.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.aps.start()
        for name, jobs in self.jobs.items():
            t = jobs.timing
            also = f", reconciling every {_secs(t.reconcile)}" if t.reconcile else ""
            log.info("%s: every %s (jitter %s)%s", name, _secs(t.every), _secs(t.jitter), also)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop scheduling, cancel running syncs (committed pages stay), release the locks."""
        self.stopping = True
        if self.aps is not None and self.aps.running:
            self.aps.pause()
        tasks = [j.task for j in self.jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        if self._beating is not None:
            self._beating.cancel()
        if self.aps is not None and self.aps.running:
            self.aps.shutdown(wait=False)
        self._release_owner()

    # -- jobs ------------------------------------------------------------------------------

    async def reconcile(self, name: str) -> None:
        """The slow job: reconcile now, or have the source's next run do it."""
        jobs = self.jobs[name]
        if jobs.task is not None or jobs.failures:
            jobs.reconcile_pending = True
            log.info("%s: reconciliation deferred to the next run", name)
            return
        await self.run(name, reconcile=True)

    async def run(self, name: str, reconcile: bool = False) -> Summary | None:
        """One scheduled run of one source; never raises, logs one line."""
        jobs = self.jobs[name]
        if self.stopping:
            return None
        if jobs.task is not None:
            log.info("%s: skipped: previous run of %s still going", name, name)
            return None
        jobs.task = asyncio.current_task()
        started = time.monotonic()
        try:
            assert self._turn is not None
            async with self._turn:
                return await self._run(jobs, reconcile, started)
        except asyncio.CancelledError:
            log.info("%s: interrupted after %s; committed pages are kept", name, _took(started))
            return None
        finally:
            jobs.task = None
            self.completed += 1
            if self.runs is not None and self.completed >= self.runs:
                self.done.set()

    async def _run(self, jobs: SourceJobs, reconcile: bool, started: float) -> Summary | None:
        name = jobs.source.name
        reconcile = reconcile or jobs.reconcile_pending
        try:
            holder = self._claim_owner()
            if holder is not None:
                self._say_held(name, holder)
                return None
            if self.before_run is not None:
                self.before_run(jobs.source)
            # Reconciliation is this scheduler's job; switch off the engine's run counter.
            source = replace(jobs.source, reconcile_every=0)
            options = replace(self.options, reconcile=reconcile or self.options.reconcile)
            summaries = await scheduled_run(self.db, lambda: sync_sources(  # webhooks/turn.py
                self.db, [source], options, transport=self.transport,
                client_options=self.client_options))  # fmt: skip
        except StoreError as exc:
            if BUSY in str(exc):
                log.info("%s: skipped: %s", name, _scrub(str(exc), jobs.source))
                return None
            self._failed(jobs, exc, started)
            return None
        except Exception as exc:  # noqa: BLE001 - a failed run must never stop the scheduler
            self._failed(jobs, exc, started)
            return None
        summary = summaries[0]
        if summary.reconciled:
            jobs.reconcile_pending = False
        if summary.outcome == "ok":
            jobs.failures = 0
            log.info("%s", _line(summary, started))
        else:  # partial: finished, but something was not read
            log.warning("%s", _line(summary, started))
        return summary

    def _failed(self, jobs: SourceJobs, exc: BaseException, started: float) -> None:
        """Log a failed run and push the next one back (doubling, capped)."""
        jobs.failures += 1
        delay = backoff_delay(jobs.timing.every, jobs.failures, self.max_backoff)
        known = BitbucketError | SyncError | StoreError | ConfigError
        text = str(exc) if isinstance(exc, known) else repr(exc)
        failed = getattr(exc, "summaries", None)
        if failed and failed[-1].message:
            text = failed[-1].message  # says when every request failed, not only the last
        name = jobs.source.name
        if self.aps is not None and not self.stopping:
            nxt = datetime.now(UTC) + timedelta(seconds=delay)
            self.aps.modify_job(f"sync:{name}", next_run_time=nxt)
        log.warning(
            "%s: failed after %s: %s; next try in %s (failure %d in a row)",
            name, _took(started), _scrub(text, jobs.source), _secs(delay), jobs.failures,
        )  # fmt: skip

    def _on_event(self, event: JobEvent) -> None:
        """APScheduler skipped a run: say so in our own words."""
        kind, _, name = event.job_id.partition(":")
        if event.code == EVENT_JOB_MAX_INSTANCES:
            what = "run" if kind == "sync" else "reconciliation"
            log.info("%s: skipped: previous %s of %s still going", name, what, name)
        else:
            log.info("%s: skipped a run that was due too long ago (the process was busy)", name)

    # -- the owner lock ----------------------------------------------------------------------

    def _claim_owner(self) -> Holder | None:
        """Hold ``<db>.schedule.lock``; None when we own it, else who holds it."""
        holder = self.owner.try_acquire()
        if holder is None and self._beating is None:
            self._beating = asyncio.ensure_future(self._beat())
        return holder

    async def _beat(self) -> None:
        """The owner's heartbeat, from the event loop: it stops when the process stops."""
        while True:
            self.owner.beat()
            await asyncio.sleep(self.heartbeat)

    def _say_held(self, name: str, holder: Holder) -> None:
        """A skip: quiet when the owner is alive, loud when it stopped making progress."""
        silent = holder.silent_for()
        if silent is not None and silent > self.stale_after:
            log.warning("%s: skipped: the bbmirror schedule owning %s (pid %s) has made no "
                        "progress for %s (stopped or hung?) and still holds the lock: `kill "
                        "-CONT %s` or stop it, and this scheduler takes over", name, self.db,
                        holder.pid, _secs(round(silent)), holder.pid)  # fmt: skip
            return
        log.info("%s: skipped: another bbmirror schedule (pid %s) keeps %s fresh",
                 name, holder.pid, self.db)  # fmt: skip

    def _release_owner(self) -> None:
        self.owner.release()


async def run_until_done(scheduler: Scheduler, *, signals: bool = False) -> None:
    """Run `scheduler` until its `done` event is set (or SIGTERM/SIGINT), then stop it."""
    scheduler.start()
    loop = asyncio.get_running_loop()
    caught = (signal.SIGTERM, signal.SIGINT) if signals else ()
    for sig in caught:
        loop.add_signal_handler(sig, scheduler.done.set)
    try:
        await scheduler.done.wait()
    finally:
        await scheduler.stop()
        for sig in caught:
            loop.remove_signal_handler(sig)


def run_scheduler(db: str, sources: list[Source], webhooks: tuple = (), **options: Any) -> None:
    """Block, syncing on schedule (and taking ``webhooks``: hub, host, port) until stopped."""
    from bbmirror.webhooks.serving import serving

    async def main() -> None:
        async with serving(*(webhooks or (None, "", 0))):
            await run_until_done(Scheduler(db, sources, **options), signals=True)
        log.info("stopped")

    asyncio.run(main())


class SchedulerThread:
    """The scheduler on its own event loop in a background thread (``serve --sync``, demo)."""

    def __init__(self, db: str, sources: list[Source], **options: Any) -> None:
        self.scheduler = Scheduler(db, sources, **options)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    def start(self) -> SchedulerThread:
        self._thread = threading.Thread(target=self._main, name="bbmirror-schedule", daemon=True)
        self._thread.start()
        self._ready.wait(STOP_TIMEOUT)
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await run_until_done(self.scheduler)

        asyncio.run(main())

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Cancel the running sync and wait for the thread to finish."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to stop
                self._loop.call_soon_threadsafe(self.scheduler.done.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> SchedulerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _line(summary: Summary, started: float) -> str:
    rows = sum(summary.rows.values())
    text = (
        f"{summary.source}: {summary.outcome} in {_took(started)}, "
        f"{summary.repositories} repositories, {rows} rows, {summary.requests} requests, "
        f"{summary.errors} errors"
    )
    text += " (reconciled)" if summary.reconciled else ""
    return text + (f" ({summary.message})" if summary.message else "")


def _took(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"


def _secs(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def _scrub(text: str, source: Source) -> str:
    """No credential ever reaches a log line."""
    from bbmirror.http.scrub import scrub

    return scrub(text, source.credentials.secrets())
