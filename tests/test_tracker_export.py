"""Issue 14: a tracker's first sync through the issue export job, and its simulator (§6.4)."""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
import zipfile

import httpx
import pytest
from archive_shapes import ISSUE_TABLES
from mirror import TOKEN, Harness, differences

from bbmirror.engine import Options
from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.common.transport import SimulatorTransport

CHILD_LISTS = ("/comments", "/changes", "/attachments")
TRACKER_TABLES = (*ISSUE_TABLES, "users")


def _member(world):
    """The harness's credential as a plain member of every workspace: no repository admin."""
    viewer = viewer_uuid(world)
    for ws in world.workspaces.values():
        for m in ws.members:
            if m.user_uuid == viewer:
                m.permission = "member"
    return world


def _admin(harness: Harness) -> Harness:
    harness.app.state.config.repository_admins = frozenset({viewer_uuid(harness.world)})
    return harness


def _call(app, method: str, path: str, json: dict | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=SimulatorTransport(app), base_url="http://bitbucket.test"
        ) as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            return await client.request(method, path, headers=headers, json=json)

    return asyncio.run(go())


def _tracker_repo(world):
    return max(world.repositories.values(), key=lambda r: len(r.issues))


def _rows(db: str) -> dict[str, dict]:
    """Every tracker row, all columns but the bookkeeping ones, keyed by table and id."""
    conn = sqlite3.connect(db)
    out = {}
    for table in TRACKER_TABLES:
        cols = [r[1] for r in conn.execute(f"pragma table_info({table})")]
        cols = [c for c in cols if c not in ("synced_at",)]
        out[table] = {r[0]: r for r in conn.execute(f"select {', '.join(cols)} from {table}")}
    return out


def _issue_requests(harness: Harness) -> list[str]:
    return [r.path for r in harness.log if "/issues" in r.path]


# -- the simulator: no friendlier than Bitbucket -----------------------------------------------


def test_the_export_job_needs_admin_rights_and_a_type():
    world = _member(generate(5, "tiny"))
    repo = _tracker_repo(world)
    harness = Harness(world, "unused.db")
    path = f"/2.0/repositories/{repo.full_name}/issues/export"
    refused = _call(harness.app, "POST", path, {"type": "export"})
    assert refused.status_code == 403  # a workspace member, not a repository admin
    assert "admin" in refused.json()["error"]["message"]
    _admin(harness)
    assert _call(harness.app, "POST", path).status_code == 400  # export_options.type required
    started = _call(harness.app, "POST", path, {"type": "export"})
    assert started.status_code == 202
    assert started.json()["status"] == "ACCEPTED"
    assert started.headers["location"].endswith(f"/issues/export/{repo.slug}-issues-1.zip")


def test_a_scoped_token_needs_issue_and_repository_admin():
    world = generate(5, "tiny")
    repo = _tracker_repo(world)
    harness = Harness(world, "unused.db")
    path = f"/2.0/repositories/{repo.full_name}/issues/export"
    harness.app.state.config.scopes = {TOKEN: frozenset({"issue", "repository"})}
    refused = _call(harness.app, "POST", path, {"type": "export"})
    assert refused.status_code == 403
    assert refused.json()["error"]["detail"]["required"] == ["issue", "repository:admin"]
    harness.app.state.config.scopes = {TOKEN: frozenset({"issue", "repository:admin"})}
    assert _call(harness.app, "POST", path, {"type": "export"}).status_code == 202


def test_attachment_files_ride_only_when_asked_and_a_job_can_fail():
    world = generate(5, "tiny")
    repo = max(world.repositories.values(), key=lambda r: sum(map(_attached, r.issues.values())))
    assert any(i.attachments for i in repo.issues.values())
    harness = _admin(Harness(world, "unused.db"))
    path = f"/2.0/repositories/{repo.full_name}/issues/export"

    def names(options: dict) -> list[str]:
        location = _call(harness.app, "POST", path, options).headers["location"]
        assert _call(harness.app, "GET", location).status_code == 202  # still running
        done = _call(harness.app, "GET", location)
        assert done.headers["content-type"] == "application/zip"
        return zipfile.ZipFile(io.BytesIO(done.content)).namelist()

    assert not [n for n in names({"type": "export"}) if n.startswith("attachments/")]
    files = names({"type": "export", "include_attachments": True})
    assert [n for n in files if n.startswith("attachments/")]
    harness.app.state.config.export_fails = True
    location = _call(harness.app, "POST", path, {"type": "export"}).headers["location"]
    _call(harness.app, "GET", location)
    failed = _call(harness.app, "GET", location)
    assert failed.status_code == 200 and failed.json()["status"] == "FAILURE"


def _attached(issue) -> int:
    return len(issue.attachments)


# -- the sync --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "size"), [(5, "tiny"), pytest.param(1, "small", marks=pytest.mark.slow)]
)
def test_a_first_sync_by_export_equals_one_by_lists_and_the_world(tmp_path, seed, size):
    """Two full syncs: the fast lane's tiny world, and a small one in the full run."""
    world = _member(generate(seed, size))
    by_lists = Harness(world, str(tmp_path / "lists.db"))
    assert by_lists.sync().outcome == "ok"
    assert {r.status for r in by_lists.log if r.path.endswith("/export")} == {403}  # a member
    by_export = _admin(Harness(world, str(tmp_path / "export.db")))
    summary = by_export.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert differences(world, by_export.db) == []
    assert _rows(by_export.db) == _rows(by_lists.db)  # row for row, column for column
    # The requests: one export job per tracker, and child lists only where there are children.
    trackers = [r for r in world.repositories.values() if r.has_issues]
    paths = _issue_requests(by_export)
    assert len([p for p in paths if p.endswith("/issues/export")]) == len(trackers)
    for suffix, children in (
        ("/comments", lambda i: i.comments),
        ("/changes", lambda i: i.changes),
        ("/attachments", lambda i: i.attachments),
    ):
        having = sum(1 for r in trackers for i in r.issues.values() if children(i))
        assert len([p for p in paths if p.endswith(suffix)]) == having
    listed = len([p for p in _issue_requests(by_lists) if p.endswith(CHILD_LISTS)])
    exported = len([p for p in paths if p.endswith(CHILD_LISTS)])
    assert exported < listed


def test_later_runs_read_the_list_since_the_watermark_and_changed_issues_only(tmp_path):
    world = generate(5, "tiny")
    harness = _admin(Harness(world, str(tmp_path / "m.db")))
    assert harness.sync().outcome == "ok"
    repo = _tracker_repo(world)
    issue = next(i for i in repo.issues.values() if i.comments)
    mutate.comment_issue(world, repo, issue, random.Random(3))
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    paths = _issue_requests(harness)
    assert not [p for p in paths if "/export" in p]  # the export job is a first sync's only
    children = {p.rsplit("/", 2)[-2] for p in paths if p.endswith(CHILD_LISTS)}
    assert children == {str(issue.id)}
    assert differences(world, harness.db) == []


def test_without_admin_rights_or_on_failure_the_lists_lose_nothing(tmp_path):
    world = _member(generate(5, "tiny"))
    refused = Harness(world, str(tmp_path / "refused.db"))  # a member: 403
    failing = _admin(Harness(world, str(tmp_path / "failing.db")))
    failing.app.state.config.export_fails = True
    for harness in (refused, failing):
        summary = harness.sync()
        assert (summary.outcome, summary.errors, summary.skipped) == ("ok", 0, 0), summary.message
        assert differences(world, harness.db) == []
        assert [r for r in harness.log if r.path.endswith("/issues/export")]
        conn = sqlite3.connect(harness.db)
        assert conn.execute("select count(*) from sync_errors").fetchone()[0] == 0
        issues = sum(len(r.issues) for r in world.repositories.values() if r.has_issues)
        read = [p for p in _issue_requests(harness) if p.endswith(CHILD_LISTS)]
        assert len(read) == 3 * issues  # every issue's three lists, as before


@pytest.mark.parametrize(
    ("seed", "size"), [(5, "tiny"), pytest.param(1, "small", marks=pytest.mark.slow)]
)
def test_a_token_without_repository_admin_asks_once_per_run(tmp_path, seed, size):
    """One full sync: the fast lane's tiny world (two trackers), small in the full run."""
    world = generate(seed, size)
    assert len([r for r in world.repositories.values() if r.has_issues]) > 1  # not per repo
    harness = Harness(world, str(tmp_path / "m.db"))
    scopes = {"team", "project", "repository", "pullrequest", "issue", "pipeline"}
    harness.app.state.config.scopes = {TOKEN: frozenset(scopes)}
    assert harness.sync().outcome == "ok"
    posts = [r for r in harness.log if r.path.endswith("/issues/export")]
    assert [r.status for r in posts] == [403]  # the scope is the credential's: not per repo
    assert differences(world, harness.db) == []


def test_a_full_sync_reads_lists_not_the_export(tmp_path):
    world = generate(5, "tiny")
    harness = _admin(Harness(world, str(tmp_path / "m.db")))
    harness.sync(Options(full=True))
    assert not [p for p in _issue_requests(harness) if p.endswith("/export")]
    assert differences(world, harness.db) == []


def test_a_child_list_that_fails_after_the_export_is_read_again_next_run(tmp_path):
    world = generate(5, "tiny")
    repo = _tracker_repo(world)
    issue = next(i for i in repo.issues.values() if i.comments)
    stuck = f"/2.0/repositories/{repo.full_name}/issues/{issue.id}/comments"
    faults = {"failing_paths": (stuck,), "failing_status": 500}
    harness = _admin(Harness(world, str(tmp_path / "m.db"), faults=faults))
    assert harness.sync().outcome == "partial"  # said, in sync_errors
    assert [r for r in harness.log if r.path.endswith("/issues/export")]
    harness.app.state.faults.failing_paths = ()
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert f"/2.0/repositories/{repo.full_name}/issues/{issue.id}" in [r.path for r in harness.log]
    assert differences(world, harness.db) == []
