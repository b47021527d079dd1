"""Measure database size against the bytes the API served, per table and per JSON subtree.

Syncs a generated Cloud world (seed 1) in-process, counting the response bytes the simulator
sent, then reports the SQLite file size, each table's bytes (rows + indexes, from ``dbstat``),
the bytes of each table's ``json`` column, the biggest top-level JSON keys and what the stored
JSON would weigh if rebuilt in full (``bbmirror.store.slim.rebuild_row``). Run through
scripts/bench-dbsize; writes bench-results/dbsize.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import orjson
from benchlib import served_cloud, write_results

from bbmirror.engine import Options, sync_sources
from bbmirror.simulator.common.transport import SimulatorTransport

BASE = "http://bitbucket.test/2.0"
TOKEN = "bench-dbsize-token-0123456789"
MB = 1_000_000


class CountingTransport(SimulatorTransport):
    """The in-process simulator transport, adding up the response body bytes it carried."""

    served = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        body = await response.aread()
        CountingTransport.served += len(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def sync(size: str, seed: int, db: str, base: str) -> int:
    """Mirror the world into ``db``; return the response bytes served."""
    _, app, source = served_cloud(seed, size, TOKEN, base, reconcile_every=1_000_000)
    CountingTransport.served = 0
    asyncio.run(sync_sources(db, [source], Options(), transport=CountingTransport(app)))
    return CountingTransport.served


def table_bytes(conn: sqlite3.Connection) -> dict[str, int]:
    """Bytes of each table, its indexes and FTS shadow tables included (pages in use)."""
    tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
    owner = {
        name: tbl
        for name, tbl in conn.execute("select name, tbl_name from sqlite_master where type='index'")
    }
    out: Counter = Counter()
    for name, size in conn.execute("select name, sum(pgsize) from dbstat group by name"):
        table = owner.get(name, name)
        base = next((t for t in tables if table.startswith(t + "_fts")), table)
        out[base] += size
    return dict(out.most_common())


def object_bytes(conn: sqlite3.Connection, top: int = 10) -> dict[str, int]:
    """The ``top`` heaviest objects (tables, indexes, FTS shadow tables) by pages in use."""
    sql = "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT ?"
    return dict(conn.execute(sql, (top,)).fetchall())


def json_bytes(conn: sqlite3.Connection, rebuild) -> dict[str, dict]:
    """Per table: stored ``json`` bytes, rebuilt bytes, and the five heaviest top-level keys."""
    out = {}
    tables = [
        r[0]
        for r in conn.execute("select name from sqlite_master where type='table'")
        if any(c[1] == "json" for c in conn.execute(f"pragma table_info([{r[0]}])"))
    ]
    for table in tables:
        stored = rebuilt = 0
        keys: Counter = Counter()
        cursor = conn.execute(f"select * from [{table}]")
        names = [d[0] for d in cursor.description]
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            text = row["json"]
            if text is None:
                continue
            stored += len(text.encode())
            obj = orjson.loads(text)
            if isinstance(obj, dict):
                for key, value in obj.items():
                    keys[key] += len(orjson.dumps(value)) + len(key) + 4
            if rebuild is not None:
                rebuilt += len(orjson.dumps(rebuild(conn, table, row)))
        if stored:
            out[table] = {
                "stored": stored,
                "rebuilt": rebuilt if rebuild else None,
                "top_keys": dict(keys.most_common(5)),
            }
    return out


def bench(size: str, seed: int, keep: str | None, base: str) -> dict:
    try:
        from bbmirror.store.slim import rebuild_row as rebuild
    except ImportError:  # before slimming existed
        from bbmirror.compact import rebuild as whole

        def rebuild(conn: sqlite3.Connection, table: str, row: dict):
            return whole(orjson.loads(row["json"]))

    with tempfile.TemporaryDirectory() as tmp:
        db = keep or str(Path(tmp) / "mirror.db")
        served = sync(size, seed, db, base)
        conn = sqlite3.connect(db)
        conn.execute("vacuum")
        result = {
            "size": size,
            "base_url": base,
            "served_bytes": served,
            "db_bytes": Path(db).stat().st_size,
            "tables": table_bytes(conn),
            "objects": object_bytes(conn),
            "json": json_bytes(conn, rebuild),
        }
        conn.close()
    return result


def report(r: dict) -> None:
    print(
        f"\n{r['size']} ({r['base_url']}): API served {r['served_bytes'] / MB:.1f} MB, "
        f"database {r['db_bytes'] / MB:.1f} MB ({r['db_bytes'] / r['served_bytes']:.2f}x)"
    )
    print(f"{'table':24} {'table MB':>9} {'json MB':>8} {'rebuilt MB':>10}  heaviest keys (MB)")
    for table, size in r["tables"].items():
        if size < MB / 10:
            continue
        j = r["json"].get(table, {})
        keys = ", ".join(f"{k} {v / MB:.1f}" for k, v in j.get("top_keys", {}).items())
        rebuilt = f"{j['rebuilt'] / MB:.1f}" if j.get("rebuilt") else "-"
        print(f"{table:24} {size / MB:>9.1f} {j.get('stored', 0) / MB:>8.1f} {rebuilt:>10}  {keys}")
    heaviest = ", ".join(f"{k} {v / MB:.1f}" for k, v in r["objects"].items())
    print(f"heaviest objects (MB): {heaviest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="write the database here (one size only)")
    parser.add_argument(
        "--base-url",
        default=BASE,
        help="the simulator's API base (e.g. https://api.bitbucket.org/2.0, as on bitbucket.org)",
    )
    parser.add_argument("--out", default="bench-results/dbsize.json")
    args = parser.parse_args()
    results = [bench(size, args.seed, args.keep, args.base_url) for size in args.sizes.split(",")]
    for r in results:
        report(r)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
