"""Schema 11: a view of each pull request's size (reports 180 and 181 bucket it alike), run
spans indexed by start, and the ``row_versions`` view as it is now for a schema 10 file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_history import REPO, pr

from bbmirror.store import Store
from bbmirror.store.history_implicit import run_at
from bbmirror.store.runlog import now
from bbmirror.store.schema import MIGRATIONS, _apply, database

ALL = "SELECT * FROM row_versions ORDER BY table_name, row_id, seq"


def _store_at_10(path: Path) -> Store:
    """A store whose database stops at schema 10, with a ``row_versions`` view of other text
    (standing in for the one schema 10 wrote: each arm found its run; the rows are the same)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN")
    conn.execute(
        "CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for migration in MIGRATIONS[:10]:
        _apply(database(conn), migration)
        conn.execute(
            "INSERT INTO _migrations VALUES (?, ?, ?)", (migration.version, migration.name, now())
        )
    today = _view_sql(conn, "row_versions")
    select = today[today.index(" AS ") + 4 :]
    conn.execute("DROP VIEW row_versions")
    conn.execute(f"CREATE VIEW row_versions AS SELECT * FROM ({select})")
    conn.execute("COMMIT")
    return Store(conn, str(path), readonly=False)


def _view_sql(conn: sqlite3.Connection, name: str) -> str:
    return conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?", (name,)
    ).fetchone()[0]


def _files(number: int, *counts: tuple[int | None, int | None], tag: str = "") -> list:
    """One ``pullrequest_files`` row per (lines added, lines removed) of PR ``number``."""
    return [
        {
            "id": f"{REPO}/pr/{number}/file/{n}{tag}",
            "source": "c",
            "pullrequest_id": f"{REPO}/pr/{number}",
            "repository_id": REPO,
            "path": f"f{n}.py",
            "lines_added": added,
            "lines_removed": removed,
            "json": "{}",
        }
        for n, (added, removed) in enumerate(counts)
    ]


SIZES = {  # PR number -> its files' (added, removed), and the bucket that makes
    1: ([(5, 4)], "XS"),
    2: ([(5, 3), (1, 1)], "S"),
    3: ([(40, 9)], "S"),
    4: ([(25, 25)], "M"),
    5: ([(200, 49)], "M"),
    6: ([(125, 125)], "L"),
    7: ([(999, 0)], "L"),
    8: ([(500, 400), (50, 50)], "XL"),
    9: ([], "unknown"),  # no file mirrored
    10: ([(3, None), (2, 2)], "unknown"),  # a truncated diff's file
}


def _write_sizes(store: Store) -> None:
    rows = [f for number, (counts, _) in SIZES.items() for f in _files(number, *counts)]
    rows += _files(1, (5000, 0), tag="-gone") + _files(11, (1, 1))
    store.write({"pullrequests": [pr(n) for n in [*SIZES, 11]], "pullrequest_files": rows})
    # a file gone from the diffstat is not counted; a PR gone upstream has no size
    store.tombstone_ids("pullrequest_files", [f"{REPO}/pr/1/file/0-gone"], now())
    store.tombstone_ids("pullrequests", [f"{REPO}/pr/11"], now())


def test_each_alive_pull_request_has_its_size_and_bucket(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        _write_sizes(store)
        got = {
            row[0]: row[1:]
            for row in store.conn.execute(
                "SELECT id, files, lines, added, removed, bucket FROM pullrequest_sizes"
            )
        }
    assert {k: v[-1] for k, v in got.items()} == {
        f"{REPO}/pr/{n}": bucket for n, (_, bucket) in SIZES.items()
    }
    assert got[f"{REPO}/pr/2"] == (2, 10, 6, 4, "S")
    assert got[f"{REPO}/pr/9"] == (None, None, None, None, "unknown")
    assert got[f"{REPO}/pr/10"] == (2, None, 5, 2, "unknown")
    assert got[f"{REPO}/pr/1"] == (1, 9, 5, 4, "XS")


def test_a_schema_10_database_migrates_and_its_versions_read_the_same(tmp_path):
    path = tmp_path / "m.db"
    old = _store_at_10(path)
    run = old.start_run("c", {})
    _write_sizes(old)
    old.finish_run(run, "ok", {}, 0, 0, None)
    old.write({"pullrequests": [pr(1, title="second")]})
    before = old.conn.execute(ALL).fetchall()
    assert {v[5] for v in before} == {"insert", "update", "tombstone"}
    assert {v[3] for v in before} == {None, run}
    old.close()
    with Store.open(path) as store, Store.open(tmp_path / "new.db") as new:
        assert store.schema_version == new.schema_version == 11
        assert store.conn.execute(ALL).fetchall() == before
        assert _view_sql(store.conn, "row_versions") == _view_sql(new.conn, "row_versions")
        buckets = dict(store.conn.execute("SELECT id, bucket FROM pullrequest_sizes"))
        assert buckets == {f"{REPO}/pr/{n}": bucket for n, (_, bucket) in SIZES.items()}
        plan = store.conn.execute(f"EXPLAIN QUERY PLAN SELECT {run_at(repr(now()))}").fetchall()
        assert any("idx_history_spans_began" in step[-1] for step in plan), plan
