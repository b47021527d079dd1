"""Whose turn it is to write, within one process: scheduled runs first, webhooks between them.

The writer lock (``store/pidlock.py``) is an ``flock`` per open file, so two writers in one
process (the scheduler's thread and the webhook worker under ``serve --sync --webhooks``)
must take turns before either takes it. A scheduled run announces itself and waits for at
most the one refresh going on (a few requests); the webhook worker does not start another
while a scheduled run waits or runs, so webhooks never hold a scheduled run back.

Across processes (``schedule`` in one, ``serve --webhooks`` in another) the worker holds the
lock for one batch at a time; a scheduled run that finds it held tries again ``BUSY_TRIES``
times, ``BUSY_PAUSE`` s apart (each try repeats the run's preflight: a request or two),
before it skips as it always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from bbmirror.store.schema import StoreError

T = TypeVar("T")

_TURNS: dict[str, _Turn] = {}
_GUARD = threading.Lock()
POLL = 0.02  # seconds between tries
BUSY = "another bbmirror sync is writing"  # the writer lock's refusal (store/db.py)
BUSY_TRIES = 3
BUSY_PAUSE = 2.0


class _Turn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scheduled_waiting = 0


def _turn(db: str) -> _Turn:
    with _GUARD:
        return _TURNS.setdefault(db, _Turn())


@contextlib.asynccontextmanager
async def scheduled_turn(db: str) -> AsyncIterator[None]:
    """A scheduled run's turn: it waits only for the refresh in progress."""
    turn = _turn(db)
    with _GUARD:
        turn.scheduled_waiting += 1
    try:
        while not turn.lock.acquire(blocking=False):
            await asyncio.sleep(POLL)
    finally:
        with _GUARD:
            turn.scheduled_waiting -= 1
    try:
        yield
    finally:
        turn.lock.release()


@contextlib.asynccontextmanager
async def webhook_turn(db: str) -> AsyncIterator[None]:
    """The webhook worker's turn: only while no scheduled run waits or runs."""
    turn = _turn(db)
    while True:
        if not turn.scheduled_waiting and turn.lock.acquire(blocking=False):
            if not turn.scheduled_waiting:
                break
            turn.lock.release()
        await asyncio.sleep(POLL)
    try:
        yield
    finally:
        turn.lock.release()


def scheduled_waiting(db: str) -> bool:
    """Whether a scheduled run waits for its turn (the worker ends its batch early)."""
    return _turn(db).scheduled_waiting > 0


async def scheduled_run(db: str, run: Callable[[], Awaitable[T]], pause: float = BUSY_PAUSE) -> T:
    """A scheduled run in its turn; tried again when another process's batch holds the lock."""
    for attempt in range(BUSY_TRIES):
        try:
            async with scheduled_turn(db):
                return await run()
        except StoreError as exc:
            if BUSY not in str(exc) or attempt == BUSY_TRIES - 1:
                raise
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")
