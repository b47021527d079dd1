"""Requests are the currency (issue 14): what a Cloud mirror costs in requests and in hours at
1,000 requests an hour, and how soon it is useful.

For each size: a first sync (`bbmirror sync` in its own process against a loopback simulator
whose user may run the issue export job), the request at which every pull request and issue
row was in the database (polled from another thread: the first useful mirror), a no-op sync,
an incremental sync after ``--mutations`` random changes, then ``--reconcile``, and whether the
mirror equals the world. Prints a table and writes bench-results/economy.json.

``--skip STREAMS`` adds, beside each size's default first sync, a first sync of a fresh world
with ``--skip STREAMS`` (what leaving e.g. ``pr_diffstat`` out saves), next to what the plan
says it costs (``Plan.minimum_requests(world, skip)``), and whether it equals the world but for
the skipped streams' tables, which it leaves empty.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import value, write_results

from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, Credentials, simulator_config
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.simulator.cloud.oracle import differences
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.cloud.world import World

HOURLY = 1000  # Bitbucket Cloud's requests per hour for a user


def sync(db: str, sim: RunningSimulator, world: World, *extra: str) -> int:
    """One `bbmirror sync` process; the requests it made."""
    args = [sys.executable, "-m", "bbmirror", "sync", db, "--base-url", sim.base_url, "--json"]
    args += ["--budget", "1000000", "--concurrency", "8", *extra]
    for ws in sorted(world.workspaces):
        args += ["--workspace", ws]
    env = {**os.environ, "BITBUCKET_TOKEN": DEFAULT_TOKEN}
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["runs"][0]["requests"]


def watch_first_useful(db: str, sim: RunningSimulator, world: World, found: dict) -> None:
    """Poll the mirror until every PR and issue row is in; note the requests served so far."""
    prs = sum(len(r.pullrequests) for r in world.repositories.values())
    issues = sum(len(r.issues) for r in world.repositories.values() if r.has_issues)
    started = time.perf_counter()
    while "requests" not in found and not found.get("stop"):
        time.sleep(0.05)
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
            have = [
                conn.execute(f"select count(*) from {t} where deleted_at is null").fetchone()[0]
                for t in ("pullrequests", "issues")
            ]
            conn.close()
        except sqlite3.Error:
            continue
        if have == [prs, issues]:
            found["requests"] = len(sim.request_log)
            found["seconds"] = round(time.perf_counter() - started, 1)


def bench(size: str, seed: int, mutations: int) -> dict:
    world = generate(seed, size)
    config = simulator_config(world, Credentials(token=DEFAULT_TOKEN))
    with RunningSimulator(world, config) as sim, tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "mirror.db")
        first: dict = {}
        watcher = threading.Thread(target=watch_first_useful, args=(db, sim, world, first))
        watcher.start()
        try:
            full = sync(db, sim, world)
        finally:
            first["stop"] = True
            watcher.join()
        noop = sync(db, sim, world)
        with sim.lock:
            random_activity(world, mutations, random.Random(seed))
        incremental = sync(db, sim, world)
        reconcile = sync(db, sim, world, "--reconcile")
        problems = differences(world, db)
        size_mb = round(os.path.getsize(db) / 1e6, 1)
    return {
        "size": size,
        "full": full,
        "full_hours": round(full / HOURLY, 2),
        "first_useful_requests": first.get("requests"),
        "first_useful_minutes": round(60 * first["requests"] / HOURLY) if first else None,
        "noop": noop,
        "repositories": len(world.repositories),
        "incremental": incremental,
        "mutations": mutations,
        "reconcile": reconcile,
        "equal": not problems,
        "missed": problems[:5],
        "database_mb": size_mb,
    }


def skipped_first_sync(size: str, seed: int, skip: str) -> dict:
    """A first sync of a fresh world with ``--skip``: requests, the plan's figure, equality."""
    from bbmirror.flavours.cloud.plan import CLOUD_PLAN

    world = generate(seed, size)
    names = [n.strip() for n in skip.split(",") if n.strip()]
    skipped = CLOUD_PLAN.skipped(names)
    tables = {CLOUD_PLAN.streams[n].table for n in skipped}
    plan = CLOUD_PLAN.minimum_requests(world, names)
    config = simulator_config(world, Credentials(token=DEFAULT_TOKEN))
    with RunningSimulator(world, config) as sim, tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "mirror.db")
        full = sync(db, sim, world, "--skip", skip)
        problems = [p for p in differences(world, db, 10**9) if p.split(":")[0] not in tables]
        left = {t: value(db, f"select count(*) from {t}") for t in tables}
    return {
        "skip": skip,
        "full": full,
        "full_hours": round(full / HOURLY, 2),
        "plan_minimum": plan,
        "equal_but_skipped": not problems,
        "skipped_rows": left,
        "missed": problems[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mutations", type=int, default=500)
    parser.add_argument("--out", default="bench-results/economy.json")
    parser.add_argument("--skip", help="also a first sync with --skip STREAMS, e.g. pr_diffstat")
    parser.add_argument("--only-skip", action="store_true", help="only the --skip first syncs")
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    results = [] if args.only_skip else [bench(size, args.seed, args.mutations) for size in sizes]
    if args.skip:
        for size in sizes:
            found = skipped_first_sync(size, args.seed, args.skip)
            row = next((r for r in results if r["size"] == size), None)
            if row is None:
                results.append(row := {"size": size})
            row["with_skip"] = found
            default = f"{row['full']:,}" if "full" in row else "-"
            print(
                f"{size}: first sync {default} requests by default, {found['full']:,} with "
                f"--skip {args.skip} (plan: {found['plan_minimum']:,}; "
                f"{found['full_hours']} h at {HOURLY}/h); equal to the world but the skipped: "
                f"{found['equal_but_skipped']}; rows in skipped tables: {found['skipped_rows']}"
            )
    print(
        f"{'size':8} {'full':>7} {'hours':>6} {'useful at':>10} {'no-op':>6} "
        f"{'incremental':>12} {'reconcile':>10} {'equal':>6} {'MB':>6}"
    )
    for r in (r for r in results if "full" in r):
        print(
            f"{r['size']:8} {r['full']:>7,} {r['full_hours']:>6} "
            f"{r['first_useful_requests'] or '-':>10} {r['noop']:>6} "
            f"{r['incremental']:>12,} {r['reconcile']:>10,} {str(r['equal']):>6} "
            f"{r['database_mb']:>6}"
        )
    write_results(args.out, results)


if __name__ == "__main__":
    main()
