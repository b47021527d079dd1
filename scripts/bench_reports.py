"""Time every canned report and dashboard chart on a medium mirror; print the slowest and median.

The mirror is synced once in-process from a generated world and cached under bench-results/
(delete the file to rebuild it). Each SQL runs with its parameters blank (the widest case) and
again with filters set, REPEAT times on a warm connection; its time is the median of those.
Also fetches each report and dashboard page through Datasette's app. Writes
bench-results/reports.json. Run through scripts/bench-reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import time
from pathlib import Path

from benchlib import served_cloud
from datasette_dashboards import replace_opts_in_query

from bbmirror.engine import Options, sync_sources
from bbmirror.reports import PARAMETER
from bbmirror.serve import load_metadata, make_datasette
from bbmirror.simulator.common.transport import SimulatorTransport

OUT = Path("bench-results")
TOKEN = "bench-reports-token"
REPEAT = 5


def build(db: Path, seed: int, size: str) -> float:
    """Sync a generated world into ``db`` in-process; return the seconds it took."""
    _, app, source = served_cloud(seed, size, TOKEN)
    started = time.perf_counter()
    asyncio.run(sync_sources(str(db), [source], Options(), transport=SimulatorTransport(app)))
    return time.perf_counter() - started


def timed(conn: sqlite3.Connection, sql: str, params: dict) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(REPEAT):
        started = time.perf_counter()
        rows = len(conn.execute(sql, params).fetchall())
        times.append(time.perf_counter() - started)
    return statistics.median(times), rows


def workload(conn: sqlite3.Connection) -> list[tuple[str, str, dict]]:
    """(label, sql, params) for every report and chart, unfiltered and filtered."""
    repository = conn.execute(
        "SELECT r.full_name FROM pullrequests p JOIN repositories r ON r.id = p.repository_id"
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    filters = {
        "repository": repository,
        "since": "2025-01-01",
        "until": "2025-12-31",
        "date_start": "2025-01-01",
        "date_end": "2025-12-31",
    }
    metadata = load_metadata()
    items = []
    for name, spec in metadata["databases"]["bitbucket"]["queries"].items():
        blank = {p: "" for p in spec["params"]}
        items.append((f"query {name}", spec["sql"], blank))
        some = {**blank, **{k: v for k, v in filters.items() if k in blank}}
        if some != blank:
            items.append((f"query {name} (filtered)", spec["sql"], some))
    for slug, dashboard in metadata["plugins"]["datasette-dashboards"].items():
        for name, chart in dashboard["charts"].items():
            blank = {k: "" for k in PARAMETER.findall(chart["query"])}  # as Datasette passes them
            items.append((f"chart {slug}/{name}", replace_opts_in_query(chart["query"], {}), blank))
            used = {k: v for k, v in filters.items() if k in blank}
            if used:
                sql = replace_opts_in_query(chart["query"], used)
                items.append((f"chart {slug}/{name} (filtered)", sql, blank | used))
    return items


def pages(db: Path) -> list[tuple[str, float]]:
    """Wall time of each report page and dashboard page through Datasette (HTML)."""
    ds = make_datasette(db)
    metadata = load_metadata(db.stem)
    paths = [f"/{db.stem}/{q}" for q in metadata["databases"][db.stem]["queries"]]
    paths += [f"/-/dashboards/{slug}" for slug in metadata["plugins"]["datasette-dashboards"]]

    async def main() -> list[tuple[str, float]]:
        out = []
        for path in paths:
            started = time.perf_counter()
            response = await ds.client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            out.append((path, time.perf_counter() - started))
        return out

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    db = OUT / f"reports-{args.size}-{args.seed}.db"
    if not db.exists():
        print(f"syncing a {args.size} world into {db} (once; cached afterwards)...")
        print(f"  synced in {build(db, args.seed, args.size):.1f} s")
    make_datasette(db)  # migrates a cached mirror made by an older bbmirror
    conn = sqlite3.connect(db)
    sizes = {
        t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0]
        for t in ("pullrequests", "pullrequest_activity", "comments", "commits", "issues")
    }
    print("mirror:", ", ".join(f"{n} {t}" for t, n in sizes.items()))
    results = []
    for label, sql, params in workload(conn):
        seconds, rows = timed(conn, sql, params)
        results.append({"what": label, "seconds": round(seconds, 4), "rows": rows})
    conn.close()
    results.sort(key=lambda r: r["seconds"], reverse=True)
    for r in results:
        print(f"  {r['seconds'] * 1000:8.1f} ms  {r['rows']:6} rows  {r['what']}")
    times = [r["seconds"] for r in results]
    page_times = pages(db)
    slowest_page = max(page_times, key=lambda p: p[1])
    summary = {
        "size": args.size,
        "seed": args.seed,
        "rows": sizes,
        "sql_count": len(results),
        "sql_slowest": results[0],
        "sql_median_seconds": round(statistics.median(times), 4),
        "page_slowest": {"path": slowest_page[0], "seconds": round(slowest_page[1], 4)},
        "page_median_seconds": round(statistics.median(t for _, t in page_times), 4),
        "results": results,
    }
    print(
        f"SQL: {len(results)} runs, slowest {results[0]['seconds'] * 1000:.1f} ms"
        f" ({results[0]['what']}), median {summary['sql_median_seconds'] * 1000:.1f} ms"
    )
    print(
        f"pages: {len(page_times)}, slowest {slowest_page[1] * 1000:.1f} ms ({slowest_page[0]}),"
        f" median {summary['page_median_seconds'] * 1000:.1f} ms"
    )
    (OUT / "reports.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
