"""`bbmirror demo --webhooks` end to end: the world tells the mirror by webhook, no poll runs
(slow: it starts a process)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_with_webhooks_refreshes_between_polls(tmp_path):
    db = tmp_path / "demo.db"
    args = ["demo", str(db), "--size", "tiny", "--every", "1", "--cycles", "3", "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bbmirror", *args, "--webhooks"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Webhooks at http://127.0.0.1:" in done.stdout
    assert "demo stopped" in done.stdout
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT count(*) FROM sync_runs").fetchone()[0]
        refreshed = conn.execute(
            "SELECT count(*) FROM sync_state WHERE stream = 'webhook'"
        ).fetchone()[0]
        log = conn.execute("SELECT extra FROM sync_state WHERE scope = 'webhooks'").fetchone()
    assert runs == 1  # the first sync only: the hourly poll never came
    assert refreshed > 0 and log is not None and '"queued"' in log[0]
    assert "Traceback" not in done.stdout + done.stderr
