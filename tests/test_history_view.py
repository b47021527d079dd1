"""What Datasette asks of the row_versions view (count, facets, a page) reads only what it needs.

The view's computed inserts take their run from ``_history_spans`` by a correlated lookup; a
count or a facet over the view (Datasette's table page) must not pay it for every row. Read
from the query plans (which tables each statement reads), not from timings.
"""

from __future__ import annotations

import sqlite3

import pytest

from bbmirror.store import Store
from bbmirror.store import history as h

REPO = "{repo}"
COUNT = "select count(*) from row_versions"
FACET = (
    "select kind as value, count(*) as count from (select * from row_versions)"
    " where kind is not null group by kind order by count desc, value limit 31"
)
PAGE = "select * from row_versions limit 101"


def opened(conn: sqlite3.Connection, sql: str) -> set[str]:
    """The tables (or their aliases in the view: ``s`` is ``_history_spans``) the plan reads."""
    plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    out = set()
    for *_, detail in plan:
        if detail.startswith(("SCAN ", "SEARCH ")):
            name = detail.split(" ")[1]
            out.add("_history_spans" if name == "s" else name)
    return out


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "m.db") as s:
        run = s.start_run("c", {})
        rows = [
            {"id": f"{REPO}/pr/{n}", "source": "c", "repository_id": REPO, "number": n}
            | {"title": f"t{n}", "state": "OPEN", "json": "{}"}
            for n in (1, 2)
        ]
        s.write({"pullrequests": rows})
        s.write({"pullrequests": [rows[0] | {"title": "changed"}]})
        s.finish_run(run, "ok", {}, 0, 0, None)
        yield s


def test_count_and_facets_over_the_view_never_look_up_runs(store):
    conn = store.conn
    assert conn.execute(COUNT).fetchone()[0] == 3  # pr 1: insert, update; pr 2: insert
    for sql in (COUNT, FACET):
        reads = opened(conn, sql)
        assert "row_versions_stored" in reads and "k" in reads  # the anti-join on it
        assert "_history_spans" not in reads, sql
    # A page that shows run_id still finds each computed insert's run.
    assert "_history_spans" in opened(conn, PAGE)
    runs = {r[1]: r[3] for r in conn.execute(PAGE) if r[0] == "pullrequests" and r[5] == "insert"}
    assert set(runs.values()) == {1}
    assert h.versions(conn, "pullrequests", f"{REPO}/pr/2")[0]["run_id"] == 1
