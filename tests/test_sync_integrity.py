"""Integrity of the sync engine: work never lost behind an early marker, gaps left by --only
filled, watermarks that cannot be poisoned, walkers that stop on loops, economical commit pages.

Each test drives the real engine against the in-process simulator (or a lying proxy in front
of it) and compares the database with the world.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from dc_mirror import DcHarness
from mirror import Harness, differences

from bbmirror.simulator.dc_generate import generate_dc
from bbmirror.simulator.generate import generate
from bbmirror.store.db import Store
from bbmirror.sync import Options


def _commit_requests(harness: Harness, full_name: str) -> list:
    path = f"/2.0/repositories/{full_name}/commits"
    return [r for r in harness.log if r.path == path]


def test_a_long_ref_list_posts_its_refs_but_asks_for_full_pages(tmp_path):
    """More than 40 refs go in a POST form; pagelen must stay in the query string (§ issue 14)."""
    world = generate(3, "tiny")
    repo = next(r for r in world.repositories.values() if len(r.commits) > 41)
    for i, sha in enumerate(sorted(repo.commits)[:42]):
        repo.branches[f"many/{i}"] = sha
    harness = Harness(world, str(tmp_path / "m.db"))
    summary = harness.sync(Options(only=frozenset({"commits"})))
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    walked = _commit_requests(harness, repo.full_name)
    assert [r.method for r in walked] == ["POST"], walked  # one page holds every commit
    assert "pagelen=100" in walked[0].query
    got = sqlite3.connect(harness.db).execute(
        "select count(*) from commits where repository_id = ?", (repo.uuid,)
    )
    assert got.fetchone()[0] == len(repo.commits)


# The garbage-collection query before issue 11.12: the reference the new one must equal.
OLD_GC_SQL = """
    UPDATE commits SET deleted_at = :when
    WHERE repository_id = :repo AND deleted_at IS NULL
      AND hash NOT IN (
        WITH RECURSIVE
          pr_roots(short) AS (
            SELECT source_commit FROM pullrequests
            WHERE repository_id = :repo AND deleted_at IS NULL
            UNION SELECT destination_commit FROM pullrequests
            WHERE repository_id = :repo AND deleted_at IS NULL
            UNION SELECT merge_commit FROM pullrequests
            WHERE repository_id = :repo AND deleted_at IS NULL
          ),
          reach(hash) AS (
            SELECT value FROM json_each(:heads)
            UNION
            SELECT c.hash FROM commits c JOIN pr_roots r
              ON c.repository_id = :repo AND substr(c.hash, 1, length(r.short)) = r.short
            UNION
            SELECT p.parent_hash FROM commit_parents p
            JOIN reach r ON p.commit_id = :repo || '/' || r.hash
          )
        SELECT hash FROM reach
      )"""


def _tombstoned(db: str) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("select id from commits where deleted_at is not null")}
    finally:
        conn.close()


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_garbage_collection_by_key_ranges_equals_the_prefix_join(tmp_path, flavour):
    """Same commits tombstoned as the old quadratic query, for every repository and head set."""
    if flavour == "cloud":
        harness: Harness = Harness(generate(11, "small"), str(tmp_path / "m.db"))
    else:
        harness = DcHarness(generate_dc(5, "small"), str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    conn = sqlite3.connect(harness.db)
    repos = [r[0] for r in conn.execute("select id from repositories")]
    refs = {
        repo: [r[0] for r in conn.execute(
            "select target_hash from branches where repository_id = ? union"
            " select target_hash from tags where repository_id = ?", (repo, repo))]
        for repo in repos
    }  # fmt: skip
    conn.close()
    cases = {"all refs": refs, "one ref": {k: v[:1] for k, v in refs.items()}}
    cases["no ref"] = {k: [] for k in refs}
    found = 0
    for name, heads in cases.items():
        old_db, new_db = str(tmp_path / f"old-{name}.db"), str(tmp_path / f"new-{name}.db")
        for target in (old_db, new_db):
            with sqlite3.connect(harness.db) as source, sqlite3.connect(target) as copy:
                source.backup(copy)
        with Store.open(old_db) as store:
            for repo, tips in heads.items():
                args = {"when": "2026-01-01", "repo": repo, "heads": json.dumps(sorted(tips))}
                with store.transaction():
                    store.conn.execute(OLD_GC_SQL, args)
        with Store.open(new_db) as store:
            for repo, tips in heads.items():
                store.tombstone_unreachable(repo, tips, "2026-01-01")
        assert _tombstoned(new_db) == _tombstoned(old_db), name
        found += len(_tombstoned(new_db))
    assert found  # the cases did reach below the heads: the comparison is not vacuous
