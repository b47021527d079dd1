"""A lock that cannot outlive its owner: an ``flock`` on a sidecar file holding the owner's pid.

The OS drops an ``flock`` when the process holding it dies, even by SIGKILL, so a crashed sync
or scheduler never blocks the next one; the pid inside lets the refusal name the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from bbmirror.store.schema import StoreError


class PidLock:
    """Exclusive, non-blocking, per process; ``acquire`` says who holds it when it can't."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock: None on success (or if already ours), else the holder's pid."""
        if self.fd is not None:
            return None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return None

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
