"""`import-issues` and `export-issues` from the command line, together with live sync."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path

from click.testing import CliRunner
from mirror import Harness, differences

from bbmirror.cli import cli
from bbmirror.simulator.cloud.export import export_zip
from bbmirror.simulator.cloud.generate import generate

COUNTED = ("issues", "comments", "issue_changes", "issue_change_items", "users", "repositories")


def _counts(db: str) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in COUNTED}
    finally:
        conn.close()


def _tracker_repo(world):
    return next(r for r in world.repositories.values() if r.has_issues and r.issues)


def test_live_sync_then_archive_import_adds_no_duplicates(tmp_path, mirrored):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))  # a full sync of a small world
    repo = _tracker_repo(harness.world)
    archive = tmp_path / "issues.zip"
    archive.write_bytes(export_zip(harness.world, repo))
    before = _counts(harness.db)
    result = CliRunner().invoke(
        cli, ["import-issues", harness.db, str(archive), "--repo", repo.full_name]
    )
    assert result.exit_code == 0, result.output
    assert f"imported {repo.full_name}" in result.output
    assert _counts(harness.db) == before
    assert differences(harness.world, harness.db) == []
    conn = sqlite3.connect(harness.db)
    with_bytes = conn.execute(
        "select count(*) from issue_attachments where content is not null and deleted_at is null"
    ).fetchone()[0]
    assert with_bytes == sum(len(i.attachments) for i in repo.issues.values())


def test_export_issues_writes_a_bitbucket_zip_of_the_mirror(tmp_path):
    harness = Harness(generate(4, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    repo = _tracker_repo(harness.world)
    out = tmp_path / "out.zip"
    result = CliRunner().invoke(
        cli, ["export-issues", harness.db, "--repo", repo.full_name, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        doc = json.loads(zf.read("db-2.0.json"))
    assert sorted(i["id"] for i in doc["issues"]) == sorted(repo.issues)
    comments = sum(not c.deleted for i in repo.issues.values() for c in i.comments)
    changes = sum(len(i.changes) for i in repo.issues.values())
    # As in real exports, each change-log entry also appears as a (possibly empty) comment.
    assert len(doc["comments"]) == comments + changes
    assert {log["issue"] for log in doc["logs"]} <= set(repo.issues)


def test_a_corrupt_archive_is_one_line_and_changes_nothing(tmp_path):
    harness = Harness(generate(4, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    repo = _tracker_repo(harness.world)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(export_zip(harness.world, repo)[:-200])  # truncated download
    digest = hashlib.sha256(Path(harness.db).read_bytes()).hexdigest()
    result = CliRunner().invoke(
        cli, ["import-issues", harness.db, str(bad), "--repo", repo.full_name]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert hashlib.sha256(Path(harness.db).read_bytes()).hexdigest() == digest


def test_repo_argument_is_checked(tmp_path):
    result = CliRunner().invoke(
        cli, ["import-issues", str(tmp_path / "m.db"), "x.zip", "--repo", "no-slash"]
    )
    assert result.exit_code == 2
    assert "WORKSPACE/SLUG" in result.output
