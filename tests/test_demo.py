"""`bbmirror demo` end to end: a real process, its Datasette pages, fresh data, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.slow  # starts processes

WAIT = 60.0


class Lines:
    """Collects a process's output lines in a thread, so the test can wait for one."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def freshness(client: httpx.Client, base: str) -> tuple:
    sql = "select count(*), max(updated_on) from pullrequests"
    rows = client.get(f"{base}.json", params={"sql": sql, "_shape": "array"}).json()
    params = {"outcome": "ok", "_shape": "array"}  # finished runs: their rows are committed
    runs = client.get(f"{base}/sync_runs.json", params=params).json()
    return tuple(rows[0].values()), len(runs)


def test_demo_serves_fresh_data_and_stops_cleanly(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = ["demo", str(tmp_path / "demo.db"), "--size", "tiny", "--every", "3", "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bbmirror", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    out = Lines(proc)
    try:
        url = out.wait_for(r"Datasette: (http://127\.0\.0\.1:\d+)/").group(1)
        out.wait_for(r"Ctrl-C stops")
        links = [link for link in re.findall(r"http://\S+", out.text) if link.startswith(url + "/")]
        assert any("/-/dashboards/" in link for link in links)
        assert any("sync_runs" in link for link in links)
        base = f"{url}/demo"
        with httpx.Client(timeout=30) as client:
            for page in ["/", "/demo", *[link.removeprefix(url) for link in links]]:
                response = client.get(url + page)
                assert response.status_code == 200, (page, response.text[:300])
            before, runs_before = freshness(client, base)
            assert runs_before >= 1 and before[0] > 0  # the first mirror is served
            deadline = time.monotonic() + WAIT
            while freshness(client, base)[1] < runs_before + 1:  # a change-and-sync cycle later
                assert time.monotonic() < deadline, out.text
                assert client.get(f"{base}/pullrequests").status_code == 200  # during syncs
                time.sleep(0.3)
            after, _ = freshness(client, base)
        assert after != before  # new or changed pull requests arrived
        assert "world: 25 changes" in out.text
        stopped = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT) == 0, out.text
        assert time.monotonic() - stopped < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.thread.join(5)
    assert "demo stopped" in out.text
    assert "Traceback" not in out.text
