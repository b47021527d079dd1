"""``bbmirror simulate --kind server`` serves the Server simulator and says how to mirror it."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from bbmirror.simulator.server.generate import generate_dc

pytestmark = pytest.mark.slow  # starts processes


def _banner(proc: subprocess.Popen) -> dict[str, str]:
    lines: dict[str, str] = {}
    assert proc.stdout is not None
    for _ in range(10):
        line = proc.stdout.readline()
        if not line:
            break
        label, _, value = line.strip().partition(":")
        lines[label.strip()] = value.strip()
        if label.strip() == "Mirror it":
            break
    return lines


def test_simulate_kind_server_prints_url_token_and_sync_command():
    command = [sys.executable, "-m", "bbmirror", "simulate", "--kind", "server"]
    command += ["--size", "tiny", "--seed", "3", "--port", "0", "--token", "cli-token-123"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = _banner(proc)
        if "Mirror it" not in banner:
            proc.terminate()
            raise AssertionError(f"no banner: {banner} {proc.communicate(timeout=15)[1]}")
        first = next(k for k in banner if k.startswith("Simulated Bitbucket Server"))
        root = (first + ":" + banner[first]).rsplit(" at ", 1)[1]
        assert root.startswith("http://127.0.0.1:")
        assert banner["Bearer token"] == "cli-token-123"
        assert banner["REST API"].startswith(f"{root}/rest/api/1.0")
        mirror = banner["Mirror it"]
        assert mirror.startswith("BITBUCKET_SERVER_TOKEN=cli-token-123 bbmirror sync sim.db")
        assert f"--server-url {root} " in mirror
        for project in generate_dc(3, "tiny").projects.values():
            quoted = f"'{project.key}'" if project.key.startswith("~") else project.key
            assert f"--project {quoted}" in mirror
        headers = {"Authorization": "Bearer cli-token-123"}
        response = httpx.get(f"{root}/rest/api/1.0/repos", headers=headers, timeout=10)
        assert response.status_code == 200 and response.json()["size"] == 3
        bad = httpx.get(f"{root}/rest/api/1.0/users", headers={"Authorization": "Bearer x"})
        assert bad.status_code == 401 and "errors" in bad.json()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
