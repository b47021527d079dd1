"""The history reports, rewritten as index lookups, give the rows the old SQL gave.

repository_changes (the OR join) and the as-of SQL (which read the ``row_versions`` view) are
compared with their old text on a tiny world synced, mutated, re-synced and pruned.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter

import pytest
from mirror import Harness

from bbmirror.engine import Options
from bbmirror.reports import as_of
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.store import history as h
from bbmirror.store.tables import MIRRORED, TABLES

# The report as it was before (reports/150-repository_changes.sql up to schema 10): the reference.
OLD_SQL = """WITH repo AS (
  SELECT id FROM repositories WHERE id = :repository OR full_name = :repository
)
SELECT v.observed_at, v.table_name, v.row_id,
  coalesce(p.title, i.title, b.name, t.name, substr(c.body, 1, 80)) AS label,
  v.kind, v.changed AS previous_values, v.run_id
FROM row_versions v
JOIN repo r ON v.row_id = r.id
  OR (v.row_id > r.id || '/' AND v.row_id < r.id || '0')
  OR (v.table_name = 'comments'
    AND v.row_id IN (SELECT id FROM comments WHERE repository_id = r.id))
LEFT JOIN pullrequests p ON v.table_name = 'pullrequests' AND p.id = v.row_id
LEFT JOIN issues i ON v.table_name = 'issues' AND i.id = v.row_id
LEFT JOIN branches b ON v.table_name = 'branches' AND b.id = v.row_id
LEFT JOIN tags t ON v.table_name = 'tags' AND t.id = v.row_id
LEFT JOIN comments c ON v.table_name = 'comments' AND c.id = v.row_id
WHERE (coalesce(:from, '') = '' OR v.observed_at >= :from)
  AND (coalesce(:to, '') = '' OR v.observed_at < :to)
ORDER BY v.observed_at DESC, v.table_name, v.row_id, v.seq DESC"""


def old_as_of_sql(table: str) -> str:
    """``history.as_of_sql`` as it was before (reading the ``row_versions`` view)."""
    cols = h.columns(table)
    picked = ",\n  ".join(
        f"CASE WHEN json_type(u.prev, '$.{c}') IS NOT NULL THEN json_extract(u.prev, '$.{c}')"
        f" ELSE t.[{c}] END AS [{c}]"
        for c in cols
    )
    scope = (
        ("t.[id]" if table == "repositories" else "t.[repository_id]")
        if table == "repositories" or "repository_id" in TABLES[table].column_names
        else None
    )
    where = (
        f"\n  AND (coalesce(:repository_id, '') = '' OR {scope} = :repository_id)" if scope else ""
    )
    return f"""WITH prev AS (
  SELECT row_id, json_group_object(col, value) AS prev FROM (
    SELECT v.row_id, j.key AS col, j.value AS value, min(v.seq)
    FROM row_versions v, json_each(v.changed) j
    WHERE v.table_name = '{table}' AND v.observed_at > :date GROUP BY v.row_id, j.key
  ) GROUP BY row_id
)
SELECT * FROM (
SELECT t.[id],
  {picked}
FROM [{table}] t LEFT JOIN prev u ON u.row_id = t.[id]
WHERE NOT EXISTS (
    SELECT 1 FROM row_versions i WHERE i.table_name = '{table}' AND i.row_id = t.[id]
      AND i.kind = 'insert' AND i.observed_at > :date
  ){where}
) WHERE [deleted_at] IS NULL"""


def new_sql() -> str:
    path = next(p for p in as_of.files() if p.name == "150-repository_changes.sql")
    return path.read_text()


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
                old = conn.execute(OLD_SQL, params).fetchall()
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
        new_text, old_text = h.as_of_sql(table), old_as_of_sql(table)
        for date in dates:
            for scope in ("", repo):
                params = {"date": date, "repository_id": scope}
                old = sorted(conn.execute(old_text, params).fetchall(), key=str)
                assert sorted(conn.execute(new_text, params).fetchall(), key=str) == old
                if table == "pullrequests" and not scope:
                    now = conn.execute(
                        f"SELECT {', '.join(['id', *h.columns(table)])}"
                        " FROM pullrequests WHERE deleted_at IS NULL"
                    ).fetchall()
                    differing += len(set(now) ^ set(old))
    conn.close()
    assert differing > 0
