"""bbmirror against its peers and against the limits, on a loopback simulator.

Each tool (bbmirror, an atlassian-python-api script, dlt's rest_api source) faces the same
generated world on its own simulator with the same latency: a full sync, a no-op sync, then
500 random mutations and an incremental sync, checked against the world; bbmirror then runs
``--reconcile`` (its id scan for deletions, which `schedule` runs every few intervals).
Requests are counted from the simulator's request log. Then: requests against the API minimum,
the write path against plain executemany, report latency on the medium mirror, and full syncs
at three sizes.
Prints a table, writes JSON under bench-results/. Run through scripts/bench (which installs
the peers into .venv-bench); timings are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts"), str(ROOT / "tests")]

from bench_sync import minimum_requests  # noqa: E402
from mirror import differences  # noqa: E402

from bbmirror.simulator.cloud.generate import generate  # noqa: E402
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, Credentials, simulator_config  # noqa: E402
from bbmirror.simulator.cloud.mutate import random_activity  # noqa: E402
from bbmirror.simulator.cloud.serving import RunningSimulator  # noqa: E402
from bbmirror.simulator.common.faults import Faults  # noqa: E402
from bench import peer_atlassian, peer_dlt  # noqa: E402
from bench.checks import machine, peer_differences, read_snapshot, write_path  # noqa: E402

TOOLS = ("bbmirror", "atlassian", "dlt")
PEERS = {"atlassian": peer_atlassian, "dlt": peer_dlt}


def run_measured(args: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Run a process to the end; its stdout, wall seconds and own peak RSS in MB."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout = out.read()
        if proc.returncode not in (0, 3):
            raise RuntimeError(f"{args[1]} failed ({proc.returncode}): {err.read()[-2000:]}")
    return stdout, elapsed, usage.ru_maxrss / 1024


def command(tool: str, base_url: str, db: str, workspaces: list[str]) -> list[str]:
    if tool == "bbmirror":
        args = [sys.executable, "-m", "bbmirror", "sync", db, "--base-url", base_url]
        args += ["--json", "--budget", "1000000"]
        return args + [a for ws in workspaces for a in ("--workspace", ws)]
    python = os.environ.get("BENCH_PEER_PYTHON", str(ROOT / ".venv-bench/bin/python"))
    args = [python, str(ROOT / f"bench/peer_{tool}.py"), "--base-url", base_url, "--db", db]
    args += ["--token", DEFAULT_TOKEN]
    return args + [a for ws in workspaces for a in ("--workspace", ws)]


def sync_once(tool: str, sim: RunningSimulator, db: str, extra: tuple[str, ...] = ()) -> dict:
    """One run of ``tool`` against ``sim``: wall time, requests, rows written, peak RSS."""
    sim.request_log.clear()
    env = {**os.environ, "BITBUCKET_TOKEN": DEFAULT_TOKEN}
    stdout, seconds, peak = run_measured(
        [*command(tool, sim.base_url, db, sorted(sim.world.workspaces)), *extra], env
    )
    summary = json.loads(stdout)
    rows = summary["runs"][0]["rows"] if tool == "bbmirror" else summary["rows"]
    return {
        "seconds": round(seconds, 2),
        "requests": len(sim.request_log),
        "rows": sum(rows.values()),
        "peak_rss_mb": round(peak, 1),
    }


def correctness(tool: str, world, db: str) -> dict:
    if tool == "bbmirror":
        problems = differences(world, db)
        return {"equal": not problems, "missed": problems[:10]}
    attach = {"main__bb": db[: -len(".db")] + "__bb.db"} if tool == "dlt" else {}
    missed = peer_differences(world, read_snapshot(db, PEERS[tool].SNAPSHOT, attach))
    return {"equal": not missed, "missed": missed}


def compare(tool: str, size: str, args, tmp: Path, phases: str) -> dict:
    """Full, no-op and (phases == "all") incremental sync of one tool on a fresh world."""
    world = generate(args.seed, size)
    faults = Faults(latency=args.latency, jitter=args.latency / 3, seed=args.seed)
    config = simulator_config(world, Credentials(token=DEFAULT_TOKEN), faults=faults)
    db = str(tmp / f"{tool}-{size}.db")
    result: dict = {"tool": tool, "size": size, "db": db}
    with RunningSimulator(world, config) as sim:
        result["full"] = sync_once(tool, sim, db)
        print(f"  {size} {tool} full: {result['full']}", flush=True)
        if phases == "all":
            result["noop"] = sync_once(tool, sim, db)
            print(f"  {size} {tool} no-op: {result['noop']}", flush=True)
            with sim.lock:
                random_activity(world, args.mutations, random.Random(args.seed))
            result["incremental"] = sync_once(tool, sim, db)
            result["incremental"].update(correctness(tool, world, db))
            print(f"  {size} {tool} incremental: {result['incremental']}", flush=True)
            if tool == "bbmirror":  # deletions are found by the id scan, run on its own schedule
                result["reconcile"] = sync_once(tool, sim, db, ("--reconcile",))
                result["reconcile"].update(correctness(tool, world, db))
                print(f"  {size} {tool} reconcile: {result['reconcile']}", flush=True)
        else:
            result["full"].update(correctness(tool, world, db))
    if tool == "bbmirror":
        result["minimum_requests"] = minimum_requests(generate(args.seed, size))
        result["requests_vs_minimum"] = round(
            result["full"]["requests"] / result["minimum_requests"], 3
        )
    return result


def report_latency(db: str) -> dict:
    """Every canned query and dashboard chart (SQL) and page (Datasette) on ``db``."""
    import bench_reports

    conn = sqlite3.connect(db)
    sql = [
        (label, *bench_reports.timed(conn, q, p)) for label, q, p in bench_reports.workload(conn)
    ]
    conn.close()
    page_times = bench_reports.pages(Path(db))
    slowest = max(sql, key=lambda r: r[1])
    slowest_page = max(page_times, key=lambda p: p[1])
    return {
        "sql_count": len(sql),
        "sql_slowest": {"what": slowest[0], "seconds": round(slowest[1], 4)},
        "sql_median_seconds": round(statistics.median(r[1] for r in sql), 4),
        "page_count": len(page_times),
        "page_slowest": {"path": slowest_page[0], "seconds": round(slowest_page[1], 4)},
        "page_median_seconds": round(statistics.median(t for _, t in page_times), 4),
    }


def ratios(results: list[dict]) -> list[dict]:
    """Peer ÷ bbmirror for requests and wall time, per size and phase (bigger is better)."""
    out = []
    by = {(r["tool"], r["size"]): r for r in results}
    for (tool, size), peer in by.items():
        mine = by.get(("bbmirror", size))
        if tool == "bbmirror" or not mine:
            continue
        for phase in ("full", "noop", "incremental"):
            if phase in peer and phase in mine:
                a, b = peer[phase], mine[phase]
                out.append({
                    "peer": tool, "size": size, "phase": phase,
                    "requests_ratio": round(a["requests"] / max(1, b["requests"]), 2),
                    "wall_ratio": round(a["seconds"] / max(0.01, b["seconds"]), 2),
                })  # fmt: skip
    return out


def print_table(data: dict) -> None:
    print(f"\n{'size':7} {'tool':10} {'phase':12} {'seconds':>8} {'requests':>9} {'rows':>8} "
          f"{'peak MB':>8}  equal")  # fmt: skip
    for r in data["comparison"]:
        for phase in ("full", "noop", "incremental", "reconcile"):
            if phase in r:
                m = r[phase]
                equal = "" if "equal" not in m else ("yes" if m["equal"] else "NO")
                cells = f"{m['seconds']:>8} {m['requests']:>9} {m['rows']:>8} {m['peak_rss_mb']:>8}"
                print(f"{r['size']:7} {r['tool']:10} {phase:12} {cells}  {equal}")
    print("\npeer ÷ bbmirror (requests, wall time):")
    for r in data["ratios"]:
        print(f"  {r['size']:7} {r['peer']:10} {r['phase']:12} requests ×{r['requests_ratio']:<8}"
              f" wall ×{r['wall_ratio']}")  # fmt: skip
    for r in data["comparison"]:
        if r["tool"] == "bbmirror":
            print(f"bbmirror {r['size']}: {r['full']['requests']} requests, minimum "
                  f"{r['minimum_requests']}, ratio {r['requests_vs_minimum']}")  # fmt: skip
    w = data["write_path"]
    print(
        f"write path: Store.write {w['store_rows_per_second']} rows/s, executemany "
        f"{w['executemany_rows_per_second']} rows/s, ratio {w['ratio']} ({w['rows']} rows)"
    )
    rl = data["report_latency"]
    print(f"reports ({rl['size']}): SQL slowest {rl['sql_slowest']['seconds'] * 1000:.1f} ms "
          f"({rl['sql_slowest']['what']}), median {rl['sql_median_seconds'] * 1000:.1f} ms; pages"
          f" slowest {rl['page_slowest']['seconds'] * 1000:.0f} ms, median "
          f"{rl['page_median_seconds'] * 1000:.0f} ms")  # fmt: skip
    print("scale (bbmirror full sync):")
    for s in data["scale"]:
        print(f"  {s['size']:7} {s['seconds']:>8} s {s['requests']:>7} requests "
              f"{s['rows']:>8} rows {s['peak_rss_mb']:>7} MB")  # fmt: skip


def save(data: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")


def run(args: argparse.Namespace, out: Path) -> dict:
    """The whole benchmark; the JSON file is rewritten after every step (partial results)."""
    sizes, scale_sizes = args.sizes.split(","), args.scale_sizes.split(",")
    full_only = set(filter(None, args.peers_full_only.split(",")))
    data: dict = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "comparison": [],
    }
    with tempfile.TemporaryDirectory(prefix="bbmirror-bench-") as name:
        tmp = Path(name)
        for size in sizes:
            for tool in args.tools.split(","):
                phases = "full" if tool != "bbmirror" and size in full_only else "all"
                data["comparison"].append(compare(tool, size, args, tmp, phases))
                data["ratios"] = ratios(data["comparison"])
                save(data, out)
            if size == ("small" if "small" in sizes else sizes[0]):  # early: partial results
                mine = next(
                    r for r in data["comparison"] if r["tool"] == "bbmirror" and r["size"] == size
                )
                data["write_path"] = {"size": size, **write_path(mine["db"])}
                save(data, out)
        mine = {r["size"]: r for r in data["comparison"] if r["tool"] == "bbmirror"}
        reports = "medium" if "medium" in mine else sizes[-1]
        data["report_latency"] = {"size": reports, **report_latency(mine[reports]["db"])}
        save(data, out)
        data["scale"] = []
        for size in scale_sizes:
            if size not in mine:
                mine[size] = compare("bbmirror", size, args, tmp, "full")
            full = mine[size]["full"]
            data["scale"].append({"size": size, **{k: full[k] for k in ("seconds", "requests",
                                  "rows", "peak_rss_mb")}})  # fmt: skip
        for r in data["comparison"]:
            r.pop("db", None)
    data["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    save(data, out)
    return data


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny world, 2 ms latency, 50 mutations"
    )
    parser.add_argument("--sizes", default="small,medium", help="sizes for the peer comparison")
    parser.add_argument("--scale-sizes", default="tiny,small,medium")
    parser.add_argument(
        "--peers-full-only",
        default="medium",
        help="sizes where peers run the full sync only (their re-runs take long)",
    )
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per request")
    parser.add_argument("--mutations", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="JSON file (default bench-results/bench-<timestamp>.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.scale_sizes = "tiny"
        args.peers_full_only, args.latency, args.mutations = "", 0.002, 50
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or ROOT / "bench-results" / f"bench-{stamp}.json")
    print(f"benchmark: sizes {args.sizes}, latency {args.latency * 1000:g} ms, "
          f"{args.mutations} mutations; timings are noisy on a shared machine")  # fmt: skip
    print_table(run(args, out))
    print(f"written {out}")


if __name__ == "__main__":
    main()
