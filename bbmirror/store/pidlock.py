"""A lock that cannot outlive its owner: an ``flock`` on a sidecar file holding the owner's pid.

The OS drops an ``flock`` when the process holding it dies, even by SIGKILL, so a crashed sync
or scheduler never blocks the next one; the pid inside lets the refusal name the holder.

The file reads ``PID HEARTBEAT`` (Unix seconds): ``beat()`` refreshes the heartbeat, so a
holder that stopped making progress (SIGSTOP, a hang) can be told from a busy one. The file is
removed on release; a process that locked a file just removed checks the inode and retries.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass

from bbmirror.store.schema import StoreError


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, and when it last said it was making progress (None: unknown)."""

    pid: str
    heartbeat: float | None

    def silent_for(self, now: float | None = None) -> float | None:
        """Seconds since the last heartbeat."""
        if self.heartbeat is None:
            return None
        return max(0.0, (now if now is not None else time.time()) - self.heartbeat)


class PidLock:
    """Exclusive, non-blocking, per process; ``acquire`` says who holds it when it can't."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock: None on success (or if already ours), else the holder's pid."""
        holder = self.try_acquire()
        return None if holder is None else holder.pid

    def try_acquire(self) -> Holder | None:
        """Take the lock: None on success (or if already ours), else who holds it."""
        if self.fd is not None:
            return None
        for _ in range(5):  # the file may be removed between our open and our flock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot create lock file {self.path}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _parse(os.pread(fd, 64, 0))
                os.close(fd)
                return holder
            if _same_file(fd, self.path):
                self.fd = fd
                self.beat()
                return None
            os.close(fd)  # we locked a file its last owner had just removed: try again
        raise StoreError(f"cannot take lock file {self.path}: it keeps being replaced")

    def beat(self) -> None:
        """Say the owner is making progress (a no-op unless we hold the lock)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()} {time.time():.0f}\n".encode(), 0)

    def holder(self) -> Holder | None:
        """Who holds the lock now, without taking it (None when nobody does)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return _parse(os.pread(fd, 64, 0))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def release(self) -> None:
        """Unlock and remove the lock file (a clean exit leaves nothing behind)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        with contextlib.suppress(OSError):
            if _same_file(fd, self.path):
                os.unlink(self.path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _parse(raw: bytes) -> Holder:
    parts = raw.decode(errors="replace").split()
    pid = parts[0] if parts else "unknown"
    try:
        beat = float(parts[1]) if len(parts) > 1 else None
    except ValueError:
        beat = None
    return Holder(pid, beat)
