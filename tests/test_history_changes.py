"""The history reports, rewritten as index lookups, give the rows the ``row_versions`` view gives.

repository_changes (once an OR join) and the as-of SQL (which once read the view) are compared
with what Python derives from the view's versions, on a tiny world synced, mutated, re-synced
and pruned.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter, defaultdict

import pytest
from mirror import Harness

from bbmirror.engine import Options
from bbmirror.reports import as_of
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.store import history as h
from bbmirror.store.tables import MIRRORED, TABLES

LABELS = {  # the report's label of a version: its row's title, name or comment text
    "pullrequests": "title",
    "issues": "title",
    "branches": "name",
    "tags": "name",
    "comments": "substr(body, 1, 80)",
}


def changes_through_the_view(conn: sqlite3.Connection, params: dict) -> list[tuple]:
    """The report's rows derived in Python from the ``row_versions`` view: the versions of the
    repository's row, of the rows under its id and of its comments, in [from, to), newest first."""
    key, since, until = params["repository"], params["from"], params["to"]
    found_repos = conn.execute("SELECT id FROM repositories WHERE ? IN (id, full_name)", (key,))
    repos = [r for (r,) in found_repos]
    comment_repo = dict(conn.execute("SELECT id, repository_id FROM comments"))
    labels = {t: dict(conn.execute(f"SELECT id, {e} FROM [{t}]")) for t, e in LABELS.items()}
    found = []
    for seen, table, row_id, seq, run, kind, changed in conn.execute(
        "SELECT observed_at, table_name, row_id, seq, run_id, kind, changed FROM row_versions"
    ):
        if (since and seen < since) or (until and seen >= until):
            continue
        for rid in repos:
            under = row_id == rid or row_id.startswith(rid + "/")
            if under or (table == "comments" and comment_repo.get(row_id) == rid):
                label = labels.get(table, {}).get(row_id)
                found.append(((seen, table, row_id, label, kind, changed, run), seq))
    found.sort(key=lambda f: (f[0][1], f[0][2], -f[1]))
    found.sort(key=lambda f: f[0][0], reverse=True)  # stable: observed_at DESC, then the above
    return [row for row, _ in found]


def as_of_through_the_view(
    conn: sqlite3.Connection, table: str, date: str, repository_id: str | None
) -> list[tuple]:
    """The rows of ``table`` at ``date`` derived in Python from the ``row_versions`` view: each
    current row, less rows first seen after ``date``, with the previous values of the versions
    observed after it put back (newest first, so the earliest one's stay), alive at ``date``."""
    cols = h.columns(table)
    born_later, undo = set(), defaultdict(list)
    for row_id, kind, changed in conn.execute(
        "SELECT row_id, kind, changed FROM row_versions WHERE table_name = ? AND observed_at > ?"
        " ORDER BY seq DESC",
        (table, date),
    ):
        if kind == "insert":
            born_later.add(row_id)
        undo[row_id].append(json.loads(changed) if changed else {})
    scope = "id" if table == "repositories" else "repository_id"
    scoped = repository_id and scope in TABLES[table].column_names
    picked = ", ".join(f"[{c}]" for c in (scope if scoped else "id", "id", *cols))
    rows = []
    for where, row_id, *values in conn.execute(f"SELECT {picked} FROM [{table}]"):
        state = dict(zip(cols, values, strict=True))
        for previous in undo[row_id]:
            state.update(previous)
        alive = row_id not in born_later and state["deleted_at"] is None
        if alive and (not scoped or where == repository_id):
            rows.append((row_id, *state.values()))
    return rows


def new_sql() -> str:
    return as_of.reports()["150-repository_changes.sql"]


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory) -> str:
    """A tiny world synced, mutated and synced again, then pruned: every kind of
    version (computed and stored inserts, updates, tombstones, baselines)."""
    db = str(tmp_path_factory.mktemp("changes") / "m.db")
    world = generate(1, "tiny")
    harness = Harness(world, db)
    rng = random.Random(150)
    harness.sync()
    for n in (60, 60):
        random_activity(world, n, rng)
        harness.sync(Options(reconcile=True))
    conn = sqlite3.connect(db)
    with conn:  # a prune cut through the middle of the versions
        (middle,) = conn.execute(
            "SELECT observed_at FROM row_versions WHERE table_name = 'pullrequests'"
            " ORDER BY observed_at LIMIT 1 OFFSET"
            " (SELECT count(*) / 4 FROM row_versions WHERE table_name = 'pullrequests')"
        ).fetchone()
        keep, delete, note = h.history_implicit.prune_sql()  # prune's statements
        conn.execute(keep, (middle,))
        conn.execute(delete, (middle,))
        conn.execute(note, (middle, "9999"))
    conn.close()
    return db


def test_the_rewritten_report_gives_the_old_rows_on_a_mutated_world(mirrored):
    conn = sqlite3.connect(mirrored)
    repos = conn.execute("SELECT id, full_name FROM repositories ORDER BY id").fetchall()
    kinds: Counter = Counter()
    stamps = [r[0] for r in conn.execute("SELECT observed_at FROM row_versions ORDER BY 1")]
    middle = stamps[len(stamps) // 2][:10]
    elsewhere = 0  # comments found by repository_id alone (their ids are not under the repo's)
    compared = 0
    for rid, name in repos:
        for key in (rid, name):
            for span in (
                {"from": "", "to": ""},
                {"from": middle, "to": ""},
                {"from": "", "to": middle},
            ):
                params = {"repository": key, **span}
                old = changes_through_the_view(conn, params)
                new = conn.execute(new_sql(), params).fetchall()
                assert new == old, (key, span)
                kinds.update(r[4] for r in old)
                elsewhere += sum(r[1] == "comments" and not r[2].startswith(rid) for r in old)
                compared += len(old)
    conn.close()
    # The comparison saw every kind of version, and comments found by repository_id.
    assert {"insert", "update", "tombstone"} <= set(kinds)
    assert compared > 1000
    assert elsewhere > 0


def test_the_as_of_sql_gives_the_rows_it_gave_through_the_view(mirrored):
    conn = sqlite3.connect(mirrored)
    stamps = [
        r[0]
        for r in conn.execute(
            "SELECT observed_at FROM row_versions WHERE table_name = 'pullrequests' ORDER BY 1"
        )
    ]
    dates = ["", *(stamps[len(stamps) * k // 6] for k in range(6)), "9999"]
    repo = conn.execute("SELECT min(id) FROM repositories").fetchone()[0]
    differing = 0  # rows whose state at some date is not their current state
    for table in MIRRORED:
        new_text = h.as_of_sql(table)
        for date in dates:
            for scope in ("", repo):
                params = {"date": date, "repository_id": scope}
                old = sorted(as_of_through_the_view(conn, table, date, scope), key=str)
                assert sorted(conn.execute(new_text, params).fetchall(), key=str) == old
                if table == "pullrequests" and not scope:
                    now = conn.execute(
                        f"SELECT {', '.join(['id', *h.columns(table)])}"
                        " FROM pullrequests WHERE deleted_at IS NULL"
                    ).fetchall()
                    differing += len(set(now) ^ set(old))
    conn.close()
    assert differing > 0
