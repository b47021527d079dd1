"""Whose turn it is to write, within one process: scheduled runs first, webhooks between them.

The writer lock (``store/pidlock.py``) is an ``flock`` per open file, so two writers in one
process (the scheduler's thread and the webhook worker under ``serve --sync --webhooks``)
must take turns before either takes it. A scheduled run announces itself and waits for at
most the one refresh going on (a few requests); the webhook worker does not start another
while a scheduled run waits or runs, so webhooks never hold a scheduled run back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

_TURNS: dict[str, _Turn] = {}
_GUARD = threading.Lock()
POLL = 0.02  # seconds between tries


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
