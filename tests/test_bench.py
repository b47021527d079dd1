"""scripts/bench --quick end to end (so the harness never rots), and the peer comparison.

No timing assertions: only that every figure is there and that the checks judge correctly.
The peers (atlassian-python-api, dlt) take a pip install into .venv-bench that the README's
install does not make: the quick run compares with them only when that venv exists (made by
`scripts/bench`) or BBMIRROR_BENCH_PEERS=1 asks for it; otherwise it measures bbmirror alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bbmirror.simulator.cloud.generate import generate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checks import peer_differences, world_snapshot  # noqa: E402

FIGURES = ("seconds", "requests", "rows", "peak_rss_mb")


PEERS = ("atlassian", "dlt")


def _with_peers() -> bool:
    """Compare with the peers only where installing them was asked for or already done."""
    wanted = os.environ.get("BBMIRROR_BENCH_PEERS") == "1"
    return wanted or (ROOT / ".venv-bench/bin/python").exists()


@pytest.mark.slow
def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    peers = PEERS if _with_peers() else ()
    if peers:  # scripts/bench installs the peers into .venv-bench once
        command = ["bash", str(ROOT / "scripts/bench"), "--quick", "--out", str(out)]
    else:  # bbmirror alone, in this interpreter: nothing is installed
        command = [sys.executable, str(ROOT / "scripts/bench.py"), "--quick", "--tools"]
        command += ["bbmirror", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"written {out}" in done.stdout
    assert "peer ÷ bbmirror" in done.stdout
    data = json.loads(out.read_text())
    assert {"platform", "cpu", "cpus", "memory", "python"} <= set(data["machine"])
    tools = {r["tool"]: r for r in data["comparison"]}
    assert set(tools) == {"bbmirror", *peers}
    for result in tools.values():
        for phase in ("full", "noop", "incremental"):
            assert set(FIGURES) <= set(result[phase]), (result["tool"], phase)
            assert result[phase]["requests"] > 0
        assert "equal" in result["incremental"]
    mine = tools["bbmirror"]
    assert set(FIGURES) <= set(mine["reconcile"])
    assert mine["reconcile"]["equal"] is True, mine["reconcile"]["missed"]
    assert mine["full"]["requests"] >= mine["minimum_requests"] > 0
    assert mine["requests_vs_minimum"] >= 1
    if peers:  # a script that re-reads everything can hold stale or extra rows, never miss one
        missed = tools["atlassian"]["incremental"]["missed"]
        assert all(entry["missing"] == 0 for entry in missed.values()), missed
    assert {(r["peer"], r["phase"]) for r in data.get("ratios", [])} == {
        (p, phase) for p in peers for phase in ("full", "noop", "incremental")
    }
    assert {"store_rows_per_second", "executemany_rows_per_second", "ratio"} <= set(
        data["write_path"]
    )
    assert data["write_path"]["rows"] > 0
    latency = data["report_latency"]
    assert latency["sql_count"] > 0 and latency["page_count"] > 0
    assert {"sql_slowest", "sql_median_seconds", "page_slowest", "page_median_seconds"} <= set(
        latency
    )
    assert [s["size"] for s in data["scale"]] == ["tiny"]
    assert set(FIGURES) <= set(data["scale"][0])


def test_peer_differences_names_what_a_copy_misses() -> None:
    world = generate(3, "tiny")
    snapshot = world_snapshot(world)
    assert peer_differences(world, snapshot) == {}
    pr = next(iter(snapshot["pullrequests"]))
    snapshot["pullrequests"].pop(pr)
    comment = next(iter(snapshot["comments"]))
    snapshot["comments"]["999999"] = ()
    snapshot["issues"] = {k: ("closed", "old title") for k in snapshot["issues"]}
    found = peer_differences(world, snapshot)
    assert found["pullrequests"]["missing"] == 1 and found["pullrequests"]["examples"] == [pr]
    assert found["comments"]["extra"] == 1 and comment not in found["comments"]["examples"]
    assert found["issues"]["stale"] == len(snapshot["issues"]) > 0
