"""Measure Cloud syncs against a loopback simulator: requests vs the minimum, rows/s, memory.

Prints a table and writes bench-results/sync.json. Run through scripts/bench-sync.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import write_results

from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, Credentials, simulator_config
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.cloud.world import World


def minimum_requests(world: World) -> int:
    """Fewest requests that read everything bbmirror mirrors, at the API's largest pages."""
    return CLOUD_PLAN.minimum_requests(world)


def run_sync(db: str, base_url: str, world: World) -> dict:
    """One `bbmirror sync` in its own process; wall time and peak RSS of that process."""
    args = [sys.executable, "-m", "bbmirror", "sync", db, "--base-url", base_url, "--json"]
    args += ["--budget", "1000000", "--concurrency", "8"]
    for ws in sorted(world.workspaces):
        args += ["--workspace", ws]
    env = {**os.environ, "BITBUCKET_TOKEN": DEFAULT_TOKEN}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads(done.stdout)["runs"][0]
    return {
        "seconds": round(elapsed, 2),
        "requests": summary["requests"],
        "rows": sum(summary["rows"].values()),
        "peak_rss_mb": round(max(peak, before) / 1024, 1),
    }


def bench(size: str, seed: int) -> dict:
    world = generate(seed, size)
    config = simulator_config(world, Credentials(token=DEFAULT_TOKEN))
    with RunningSimulator(world, config) as sim, tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "mirror.db")
        full = run_sync(db, sim.base_url, world)
        noop = run_sync(db, sim.base_url, world)
        conn = sqlite3.connect(db)
        stored = sum(
            conn.execute(f"select count(*) from [{t}]").fetchone()[0]
            for (t,) in conn.execute(
                "select name from sqlite_master where type='table' and sql like '%[json]%'"
            )
        )
        conn.close()
    minimum = minimum_requests(world)
    return {
        "size": size,
        "full": full,
        "noop": noop,
        "minimum_requests": minimum,
        "requests_vs_minimum": round(full["requests"] / minimum, 3),
        "rows_per_second": round(full["rows"] / full["seconds"]),
        "rows_stored": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench-results/sync.json")
    args = parser.parse_args()
    results = [bench(size, args.seed) for size in args.sizes.split(",")]
    print(
        f"{'size':8} {'requests':>9} {'minimum':>8} {'ratio':>6} {'no-op':>6} "
        f"{'seconds':>8} {'rows/s':>8} {'peak MB':>8}"
    )
    for r in results:
        print(
            f"{r['size']:8} {r['full']['requests']:>9} {r['minimum_requests']:>8} "
            f"{r['requests_vs_minimum']:>6} {r['noop']['requests']:>6} "
            f"{r['full']['seconds']:>8} {r['rows_per_second']:>8} {r['full']['peak_rss_mb']:>8}"
        )
    write_results(args.out, results)


if __name__ == "__main__":
    main()
