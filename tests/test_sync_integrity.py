"""Integrity of the sync engine: work never lost behind an early marker, gaps left by --only
filled, watermarks that cannot be poisoned, walkers that stop on loops, economical commit pages.

Each test drives the real engine against the in-process simulator (or a lying proxy in front
of it) and compares the database with the world.
"""

from __future__ import annotations

import sqlite3

from mirror import Harness, differences

from bbmirror.simulator.generate import generate
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
