"""What local history costs: database growth and write speed (issue 16).

Syncs a generated Cloud world in-process (full, 500 random mutations, incremental, reconcile),
then reports the database's bytes (``dbstat``: pages in use), the bytes of ``row_versions``,
versions per kind, and ``Store.write``'s rows per second on the mirror's rows with history and
without it (``write_speed``). ``--keep DB`` keeps the mirror; ``--write-only DB`` times the
writes alone on a kept one; ``--queries DB`` times the history reads on it before and after
they were made index-served (``bench_history_queries``; bench-results/history-queries.json).
Writes bench-results/history.json. Timings are noisy on a shared machine; the with/without
runs are interleaved so that the ratio is not.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from benchlib import query, value, write_results  # noqa: E402

from bbmirror.engine import Options  # noqa: E402
from bbmirror.simulator.cloud.generate import generate  # noqa: E402
from bbmirror.simulator.cloud.mutate import random_activity  # noqa: E402
from bbmirror.store import Store  # noqa: E402
from bbmirror.store.tables import MIRRORED  # noqa: E402
from bench.checks import _chunks, mirror_rowsets  # noqa: E402


def _timed(rowsets: dict[str, list[dict]], history: bool) -> tuple[float, float]:
    """Seconds to write every row into a fresh store, then to rewrite each with a change."""
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "s.db") as store:
        if not history:
            for table in MIRRORED:
                store.conn.execute(f"DROP TRIGGER IF EXISTS [history_insert_{table}]")
                store.conn.execute(f"DROP TRIGGER IF EXISTS [history_update_{table}]")
        started = time.process_time()
        for table, rows in _chunks(rowsets):
            store.write({table: rows}, synced_at="2026-01-01T00:00:00.000000+00:00")
        inserted = time.process_time() - started
        changed = {t: [{**r, "source": "other"} for r in rows] for t, rows in rowsets.items()}
        started = time.process_time()
        for table, rows in _chunks(changed):
            store.write({table: rows}, synced_at="2026-01-02T00:00:00.000000+00:00")
        return inserted, time.process_time() - started


def write_speed(db: str, repeat: int = 3) -> dict:
    """``Store.write`` rows/s with history and without it (its triggers dropped), interleaved.

    As ``bench.checks.write_path``: the mirror's rows into a fresh database, CHUNK rows per
    transaction, best of ``repeat``; then the update path, every row rewritten with a change
    (the worst case for history: each row writes a version). Interleaving the two keeps the
    shared machine's load out of the ratio.
    """
    rowsets = mirror_rowsets(db)
    total = sum(len(r) for r in rowsets.values())
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(repeat):
        for history in (False, True):
            runs[history].append(_timed(rowsets, history))
    out: dict = {"rows": total}
    for phase, i in (("insert", 0), ("update", 1)):
        without = total / min(r[i] for r in runs[False])
        with_history = total / min(r[i] for r in runs[True])
        out[phase] = {
            "rows_per_second_without_history": round(without),
            "rows_per_second_with_history": round(with_history),
            "ratio": round(with_history / without, 3),
        }
    return out


def sizes(db: str) -> dict:
    """The file's bytes in use, and those of row_versions (with its indexes)."""
    total = value(db, "SELECT sum(pgsize) FROM dbstat")
    owned = value(
        db,
        "SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master"
        " WHERE tbl_name IN ('row_versions', 'row_versions_stored'))",
    )
    kinds = dict(query(db, "SELECT kind, count(*) FROM row_versions GROUP BY kind"))
    tables = query(db, "SELECT DISTINCT table_name FROM row_versions")
    json_bytes = sum(value(db, f"SELECT sum(length(json)) FROM [{t}]") for (t,) in tables)
    return {
        "database_bytes": total,
        "row_versions_bytes": owned,
        "row_versions_share": round(owned / total, 4),
        "json_column_bytes": json_bytes,
        "versions": kinds,
    }


def grow(size: str, seed: int, mutations: int, db: str) -> dict:
    """Full sync, mutations, incremental and reconcile runs; the database's sizes after each."""
    from mirror import Harness, differences

    world = generate(seed, size)
    harness = Harness(world, db)
    out = {}
    harness.sync()
    out["after_full"] = sizes(db)
    random_activity(world, mutations, random.Random(seed))
    harness.sync()
    harness.sync(Options(reconcile=True))
    out["after_mutations"] = sizes(db)
    out["differences"] = len(differences(world, db))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mutations", type=int, default=500)
    parser.add_argument("--write-only", metavar="DB", help="only time Store.write on DB's rows")
    parser.add_argument("--keep", metavar="DB", help="keep the mirror here (for --write-only)")
    parser.add_argument("--queries", metavar="DB", help="time the history reads on DB")
    parser.add_argument("--limit", type=float, default=60.0, help="stop a --queries read (s)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "history.json"))
    args = parser.parse_args()
    if args.queries:
        from bench_history_queries import measure, show

        result = measure(args.queries, limit=args.limit)
        show(result)
        write_results(ROOT / "bench-results" / "history-queries.json", result)
        return
    if args.write_only:
        print(json.dumps(write_speed(args.write_only), indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or str(Path(tmp) / "history.db")
        result = {"size": args.size, "seed": args.seed, "mutations": args.mutations}
        result |= grow(args.size, args.seed, args.mutations, db)
        result["write"] = write_speed(db)
    print(json.dumps(result, indent=2))
    write_results(args.out, result)


if __name__ == "__main__":
    main()
