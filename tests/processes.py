"""Server processes for the slow tests: start one on port 0, wait until it answers, stop it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import httpx

WAIT = 30.0  # generous ceiling; a server that answers sooner returns at once


def launch(
    args: list[str], url_pattern: str, env: dict | None = None
) -> tuple[subprocess.Popen, str]:
    """Start a server process; return it with the base URL it printed, once that answers."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + WAIT
    url = None
    while url is None:
        line = proc.stdout.readline()
        assert line and time.monotonic() < deadline, f"{args[0]} did not start"
        found = re.search(url_pattern, line)
        url = found.group(1).rstrip("/") if found else None
    while True:
        try:
            httpx.get(url, timeout=5)
            return proc, url
        except httpx.TransportError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, as a service manager would; kill it only if it does not go. Its exit code."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
