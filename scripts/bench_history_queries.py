"""History reads before and after the index-served SQL (issues 13/14), on one mirror, one run.

On a copy of a mirror (``--queries DB`` of scripts/bench-history), times each history read
with the SQL as it was at ``BEFORE`` (the merge of schema 10: its ``row_versions`` view, the
as-of reports, the OR join of repository_changes) and as it is now: the reports, the view's
``count(*)``, a facet on it and its first page, and the Datasette ``row_versions`` page (with
the metadata of each side). A ``before`` query still running after ``--limit`` seconds is
stopped and reported as at least that. Best of ``repeat`` runs, before and after interleaved
(a read taking over 10 s runs once).
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "7f5cfc6"  # main with schema 10, before this work
REPORTS = [
    "140-pullrequests_as_of",
    "141-issues_as_of",
    "142-repositories_as_of",
    "143-branches_as_of",
    "150-repository_changes",
]
VIEW_READS = {
    "row_versions count(*)": "SELECT count(*) FROM row_versions",
    "row_versions facet kind": "SELECT kind AS value, count(*) AS count FROM"
    " (SELECT * FROM row_versions) WHERE kind IS NOT NULL GROUP BY kind"
    " ORDER BY count DESC, value LIMIT 31",
    "row_versions first page": "SELECT * FROM row_versions LIMIT 101",
}


def _old(path: str) -> str:
    """A file as it was at ``BEFORE``."""
    return subprocess.run(
        ["git", "show", f"{BEFORE}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def _old_view() -> tuple[str, ...]:
    """``history_implicit.view_sql()`` as it was at ``BEFORE``."""
    module = types.ModuleType("history_implicit_before")
    exec(_old("bbmirror/store/history_implicit.py"), module.__dict__)  # noqa: S102 (our own file)
    return module.view_sql()


def _timed(conn: sqlite3.Connection, sql: str, params: dict, limit: float) -> tuple[float, bool]:
    """Seconds to fetch every row; (limit, False) when stopped at ``limit`` seconds."""
    started = time.perf_counter()
    conn.set_progress_handler(lambda: int(time.perf_counter() - started > limit), 100_000)
    try:
        conn.execute(sql, params).fetchall()
        return time.perf_counter() - started, True
    except sqlite3.OperationalError as exc:
        if "interrupted" not in str(exc):
            raise
        return limit, False
    finally:
        conn.set_progress_handler(None, 0)


def _page(db: Path, metadata_yaml: str | None) -> tuple[float, bool]:
    """Seconds for Datasette's HTML page of ``row_versions`` (count, rows, facets), and
    whether it answered 200 with no facet timed out."""
    from bbmirror.reports import load_metadata
    from bbmirror.serve import make_datasette

    metadata = load_metadata(db.stem)
    if metadata_yaml is not None:  # the row_versions entry as it was
        entry = yaml.safe_load(metadata_yaml)["tables"]["row_versions"]
        metadata["databases"][db.stem]["tables"]["row_versions"] = entry
    ds = make_datasette(db, metadata=metadata, migrate=False)

    async def get() -> tuple[float, bool]:
        started = time.perf_counter()
        response = await ds.client.get(f"/{db.stem}/row_versions")
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            print(f"  (row_versions page: HTTP {response.status_code})")
        return seconds, response.status_code == 200 and "timed out" not in response.text

    return asyncio.run(get())


def _sides(conn: sqlite3.Connection) -> dict[str, Callable[[], None]]:
    """Switch the copy's ``row_versions`` view to each side."""
    from bbmirror.store import history_implicit

    def use(statements: tuple[str, ...]) -> Callable[[], None]:
        def switch() -> None:
            with conn:
                for stmt in statements:
                    conn.execute(stmt)

        return switch

    return {"before": use(_old_view()), "after": use(history_implicit.view_sql())}


def measure(db: str, repeat: int = 3, limit: float = 60.0) -> dict:
    """Before/after seconds of each history read on a copy of the mirror ``db``."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bitbucket.db"
        source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        conn = sqlite3.connect(copy)
        source.backup(conn)
        source.close()
        repository, date = conn.execute(
            "SELECT (SELECT full_name FROM repositories ORDER BY id LIMIT 1),"
            " (SELECT substr(observed_at, 1, 10) FROM row_versions_stored ORDER BY observed_at"
            "  LIMIT 1 OFFSET (SELECT count(*) / 2 FROM row_versions_stored))"
        ).fetchone()
        params = {"repository": repository, "from": "", "to": "", "date": date}
        params["repository_id"] = ""
        sql = {
            name: {"before": _old(f"bbmirror/reports/{name}.sql"), "after": None}
            for name in REPORTS
        }
        from bbmirror.reports import as_of

        for name in REPORTS:  # generated now (bbmirror/reports/as_of.py), no longer files
            sql[name]["after"] = as_of.reports()[f"{name}.sql"]
        for label, text in VIEW_READS.items():
            sql[label] = {"before": text, "after": text}
        meta = {"before": _old("bbmirror/reports/metadata.yaml"), "after": None}
        sides = _sides(conn)
        out: dict[str, dict] = {name: {} for name in [*sql, "datasette row_versions page"]}
        for _ in range(repeat):
            for side, switch in sides.items():
                switch()
                for name, texts in sql.items():
                    best = out[name].get(side)
                    if best is not None and (not best["finished"] or best["seconds"] > 10):
                        continue  # stopped at the limit, or slow enough that once will do
                    seconds, done = _timed(conn, texts[side], params, limit)
                    if best is None or seconds < best["seconds"]:
                        out[name][side] = {"seconds": round(seconds, 4), "finished": done}
                conn.commit()
                page, whole = _page(copy, meta[side])
                best = out["datasette row_versions page"].get(side)
                if best is None or page < best["seconds"]:
                    out["datasette row_versions page"][side] = {
                        "seconds": round(page, 4),
                        "finished": whole,  # False: an error or a facet timed out
                    }
        conn.close()
    return {"params": params, "before_commit": BEFORE, "queries": out}


def show(result: dict) -> None:
    """One line per query: before, after, and how many times faster."""
    for name, sides in result["queries"].items():
        before, after = sides["before"], sides["after"]
        page = name.startswith("datasette")
        more = "" if before["finished"] or page else ">"
        ratio = before["seconds"] / max(after["seconds"], 1e-4)
        notes = [f"{side}: a facet timed out or an error" for side, v in sides.items()]
        notes = [
            n for n, v in zip(notes, sides.values(), strict=True) if page and not v["finished"]
        ]
        print(
            f"  {name:32} before {more}{before['seconds']:9.3f} s"
            f"  after {after['seconds']:7.3f} s  ({more}{ratio:,.0f}x) {'; '.join(notes)}"
        )
