"""An imported issue archive is history too: its versions line up with a live mirror's."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner
from mirror import Harness

from bbmirror.cli import cli
from bbmirror.simulator.cloud.export import export_zip
from bbmirror.simulator.cloud.generate import generate
from bbmirror.store.tables import TABLES

TRACKER = ("issues", "comments", "issue_changes", "issue_change_items")


def _versions(db: str) -> dict[tuple[str, str], list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT table_name, row_id, seq, kind, observed_at, changed FROM row_versions"
        ).fetchall()
    finally:
        conn.close()
    out: dict[tuple[str, str], list[tuple]] = {}
    for table, key, seq, kind, seen, changed in sorted(rows):
        out.setdefault((table, key), []).append((seq, kind, seen, changed))
    return out


def _import(db: str, archive: str, repo: str, *more: str) -> None:
    result = CliRunner().invoke(cli, ["import-issues", db, archive, "--repo", repo, *more])
    assert result.exit_code == 0, result.output


def _tail(key: str) -> str:
    """A tracker key without its repository part: ``issue/3``, ``issue/3/change/9``."""
    return key[key.index("/issue/") + 1 :] if "/issue/" in key else key


def test_an_import_after_live_sync_adds_only_real_changes(tmp_path):
    harness = Harness(generate(4, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    repo = next(r for r in harness.world.repositories.values() if r.has_issues and r.issues)
    (tmp_path / "a.zip").write_bytes(export_zip(harness.world, repo))
    before = _versions(harness.db)
    _import(harness.db, str(tmp_path / "a.zip"), repo.full_name)
    after = _versions(harness.db)
    added = {k: v[len(before.get(k, [])) :] for k, v in after.items() if v != before.get(k)}
    assert all(after[k][: len(before[k])] == before[k] for k in before)  # nothing rewritten
    # The archive says what the API said: no tracker row changed, nothing inserted twice.
    assert not [k for k in added if k[0] in TRACKER]
    assert all(kind == "update" and changed for v in added.values() for _, kind, _, changed in v)


def test_an_imported_archive_is_dated_like_the_live_mirror(tmp_path):
    world = generate(4, "tiny")
    repo = next(r for r in world.repositories.values() if r.has_issues and r.issues)
    archive = tmp_path / "a.zip"
    archive.write_bytes(export_zip(world, repo))
    live = str(tmp_path / "live.db")
    Harness(world, live).sync()
    imported = str(tmp_path / "imported.db")
    _import(imported, str(archive), repo.full_name, "--create-repo")
    compared = 0
    for table in TRACKER:
        if table == "issue_change_items":
            # The simulator's export dates log items apart from their change (by ms), and a
            # live first sync seeds from the export job, then reads the change lists (an update).
            continue
        for db in (live, imported):  # each first version carries the row's own server time
            conn = sqlite3.connect(db)
            cols = TABLES[table].column_names
            time = "coalesce(updated_on, created_on)" if "updated_on" in cols else "created_on"
            wrong = conn.execute(
                f"SELECT count(*) FROM [{table}] t JOIN row_versions v ON v.table_name = ?"
                f" AND v.row_id = t.id AND v.seq = 1 WHERE v.observed_at IS NOT {time}",
                (table,),
            ).fetchone()[0]
            conn.close()
            assert wrong == 0, (table, db)
        first = {
            _tail(k): v[0][1:3]  # (kind, observed_at) of the first version
            for (t, k), v in _versions(live).items()
            if t == table and k.startswith(repo.uuid)
        }
        got = {_tail(k): v[0][1:3] for (t, k), v in _versions(imported).items() if t == table}
        shared = set(first) & set(got)
        assert {k: got[k] for k in shared} == {k: first[k] for k in shared}, table
        compared += len(shared)
    assert compared >= len(repo.issues) + sum(len(i.changes) for i in repo.issues.values())
