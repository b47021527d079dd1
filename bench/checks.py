"""What scripts/bench.py measures besides syncs: a peer's copy against the world, the store's
write path against plain ``executemany``, and the machine it ran on.

Peers keep their own schemas, so ``tests/mirror.differences`` can't judge them; instead each
peer module's ``SNAPSHOT`` reads ids and key fields (PR state and title, issue state and title,
comment ids, comments per PR, commit hashes) and ``peer_differences`` compares them with the
world. Rows a peer keeps after they vanished upstream count as "extra".
"""

from __future__ import annotations

import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bbmirror.simulator.cloud.world import World
from bbmirror.store.db import Store
from bbmirror.store.schema import MIRRORED, TABLES

CHUNK = 100  # rows per transaction in the write-path test: one API page


def world_snapshot(world: World) -> dict[str, dict[str, tuple]]:
    """The ids and key fields a peer must hold, in the shape of a peer's SNAPSHOT."""
    out: dict[str, dict[str, tuple]] = {k: {} for k in ("pullrequests", "comments", "issues")}
    out |= {"pr_comment_counts": {}, "commits": {}}
    for repo in world.repositories.values():
        name = repo.full_name
        for pr in repo.pullrequests.values():
            out["pullrequests"][f"{name}/{pr.id}"] = (pr.state, pr.title)
            if pr.comments:
                out["pr_comment_counts"][f"{name}/{pr.id}"] = (len(pr.comments),)
            out["comments"] |= {str(c.id): () for c in pr.comments}
        for c in repo.commits.values():
            out["commits"][f"{name}/{c.hash}"] = ()
        if repo.has_issues:
            for issue in repo.issues.values():
                out["issues"][f"{name}/{issue.id}"] = (issue.state, issue.title)
                out["comments"] |= {str(c.id): () for c in issue.comments}
    return out


def read_snapshot(db: str, queries: dict[str, str], attach: dict[str, str]) -> dict:
    """Run a peer's SNAPSHOT queries on its database (``attach``: alias → file)."""
    conn = sqlite3.connect(db)
    try:
        for alias, path in attach.items():
            conn.execute("ATTACH DATABASE ? AS " + alias, (path,))
        return {
            name: {str(r[0]): tuple(r[1:]) for r in conn.execute(sql)}
            for name, sql in queries.items()
        }
    finally:
        conn.close()


def peer_differences(world: World, got: dict[str, dict[str, tuple]]) -> dict:
    """Per entity: how many ids the peer misses, holds extra, or holds with stale fields."""
    want = world_snapshot(world)
    out: dict[str, dict] = {}
    for name, expected in want.items():
        have = got.get(name, {})
        missing = sorted(set(expected) - set(have))
        extra = sorted(set(have) - set(expected))
        stale = sorted(k for k in set(expected) & set(have) if expected[k] != have[k])
        if missing or extra or stale:
            out[name] = {
                "missing": len(missing),
                "extra": len(extra),
                "stale": len(stale),
                "examples": (missing + extra + stale)[:3],
            }
    return out


def mirror_rowsets(db: str) -> dict[str, list[dict]]:
    """Every mirrored row of a bbmirror database, as the rowsets the sync engine writes."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        out = {}
        for table in MIRRORED:
            cols = [c for c in TABLES[table].column_names if c not in ("deleted_at", "synced_at")]
            sql = f"SELECT {', '.join(f'[{c}]' for c in cols)} FROM [{table}]"
            rows = [dict(r) for r in conn.execute(sql)]
            if rows:
                out[table] = rows
        return out
    finally:
        conn.close()


def _chunks(rowsets: dict[str, list[dict]]) -> Iterator[tuple[str, list[dict]]]:
    for table, rows in rowsets.items():
        for i in range(0, len(rows), CHUNK):
            yield table, rows[i : i + CHUNK]


def write_path(db: str, repeat: int = 3) -> dict:
    """Rows/s through ``Store.write`` vs plain ``executemany`` INSERTs, same rows and schema.

    Both write into a fresh database made by ``Store.open`` (same tables, indexes, triggers,
    WAL, synchronous=NORMAL), one transaction per CHUNK rows of a table; best of ``repeat``.
    """
    rowsets = mirror_rowsets(db)
    total = sum(len(r) for r in rowsets.values())
    store_s, plain_s = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            with Store.open(Path(tmp) / "store.db") as store:
                started = time.perf_counter()
                for table, rows in _chunks(rowsets):
                    store.write({table: rows}, synced_at="2026-01-01T00:00:00.000000Z")
                store_s.append(time.perf_counter() - started)
            Store.open(Path(tmp) / "plain.db").close()
            conn = sqlite3.connect(Path(tmp) / "plain.db", isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            started = time.perf_counter()
            for table, rows in _chunks(rowsets):
                cols = list(rows[0])
                names = ", ".join(f"[{c}]" for c in [*cols, "synced_at"])
                marks = ", ".join("?" * (len(cols) + 1))
                params = [(*(r[c] for c in cols), "2026-01-01T00:00:00.000000Z") for r in rows]
                conn.execute("BEGIN")
                conn.executemany(f"INSERT INTO [{table}] ({names}) VALUES ({marks})", params)
                conn.execute("COMMIT")
            plain_s.append(time.perf_counter() - started)
            conn.close()
    store_rps, plain_rps = total / min(store_s), total / min(plain_s)
    return {
        "rows": total,
        "store_rows_per_second": round(store_rps),
        "executemany_rows_per_second": round(plain_rps),
        "ratio": round(store_rps / plain_rps, 3),
    }


def machine() -> dict:
    """The machine's description, for the JSON file."""
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "sqlite": sqlite3.sqlite_version,
    }
    for path, key, field in (
        ("/proc/cpuinfo", "cpu", "model name"),
        ("/proc/meminfo", "memory", "MemTotal"),
    ):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(field):
                    info[key] = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    info.setdefault("cpu", platform.processor() or platform.machine())
    return info
