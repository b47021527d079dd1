"""Narrow credentials and one status policy (issue 12.2-12.4, issue 11.7), against the simulator."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3

import dbstate
import httpx
import pytest
from mirror import TOKEN, Harness, differences

from bbmirror import status
from bbmirror.engine import Options, SyncError
from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.common.transport import SimulatorTransport

TRACKER_LISTS = ("/milestones", "/versions", "/components", "/issues")


def _get(app, path: str, token: str | None = TOKEN) -> httpx.Response:
    async def go() -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(
            transport=SimulatorTransport(app), base_url="http://bitbucket.test"
        ) as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def _errors(db: str) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT stream, reason FROM sync_errors ORDER BY id").fetchall()
    finally:
        conn.close()


_count = dbstate.count


def _pr_repo(world):
    return next(r for r in world.repositories.values() if len(r.pullrequests) >= 2)


# -- the simulator's scopes ---------------------------------------------------------------


def test_simulator_scopes_refuse_other_families_with_bitbucket_403(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    repo = _pr_repo(harness.world)
    base = f"/2.0/repositories/{repo.full_name}"
    harness.narrow("repository")
    user = _get(harness.app, "/2.0/user")
    assert user.status_code == 403
    body = user.json()
    assert body["type"] == "error"
    assert (
        body["error"]["message"] == "Your credentials lack one or more required privilege scopes."
    )
    assert body["error"]["detail"] == {"required": ["account"], "granted": ["repository"]}
    assert _get(harness.app, base).status_code == 200
    assert _get(harness.app, f"{base}/refs/branches").status_code == 200
    assert _get(harness.app, f"{base}/pullrequests").status_code == 403
    assert _get(harness.app, f"/2.0/workspaces/{repo.full_name.split('/')[0]}").status_code == 403
    harness.narrow("pullrequest")  # implies repository (documented)
    assert _get(harness.app, f"{base}/pullrequests").status_code == 200
    assert _get(harness.app, base).status_code == 200
    harness.narrow("read:pullrequest:bitbucket")  # API token scopes imply nothing
    assert _get(harness.app, f"{base}/pullrequests").status_code == 200
    assert _get(harness.app, base).status_code == 403
    harness.app.state.config.scopes = {}
    assert _get(harness.app, "/2.0/user").status_code == 200  # unrestricted by default


# -- narrow credentials in a sync -----------------------------------------------------------


def test_repository_access_token_syncs_without_user_and_notes_each_skip(tmp_path, caplog):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.narrow("repository", "pullrequest")  # what a repository access token can have
    with caplog.at_level(logging.WARNING, logger="bbmirror.sync"):
        summary = harness.sync()
    assert "/2.0/user" not in [r.path for r in harness.log]
    assert (summary.outcome, summary.errors) == ("ok", 0) and summary.skipped > 0
    errors = _errors(harness.db)
    assert errors and all(reason.startswith("skipped:") for _, reason in errors)
    families = sorted(reason.split(" the ")[2].split()[0] for _, reason in errors)
    assert families == ["issue", "pipeline", "project", "team"]  # one note per family
    assert len([r for r in harness.log if r.status == 403]) == 4  # one refused request each
    assert len(caplog.records) == 4
    world = harness.world
    prs = sum(len(r.pullrequests) for r in world.repositories.values())
    assert _count(harness.db, "select count(*) from pullrequests") == prs
    assert _count(harness.db, "select count(*) from repositories") == len(world.repositories)
    branches = sum(len(r.branches) for r in world.repositories.values())
    assert _count(harness.db, "select count(*) from branches") == branches
    report = status.collect(harness.db)
    assert len(report["sources"][0]["skipped"]) == 4
    assert "skipped       milestones: skipped: the credential lacks the issue scope" in (
        status.render(report)
    )


def test_no_pullrequest_scope_skips_that_family_once_and_the_run_goes_on(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.narrow("account", "project", "repository", "issue", "pipeline")
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0) and summary.skipped > 0
    assert [s for s, _ in _errors(harness.db)] == ["default_reviewers"]  # pipeline is granted
    family = [r for r in harness.log if r.path.endswith(("/pullrequests", "/default-reviewers"))]
    assert len(family) == 1  # then no more asking
    commits = sum(len(r.commits) for r in harness.world.repositories.values())
    assert _count(harness.db, "select count(*) from commits") == commits
    assert _count(harness.db, "select count(*) from issues") > 0


def test_a_credential_that_reads_nothing_is_one_error(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.narrow("pipeline")
    with pytest.raises(SyncError, match="may read none of the named workspaces"):
        harness.sync()
    assert not os.path.exists(harness.db)  # nothing written


# -- one policy for 404 and 410 -------------------------------------------------------------


def test_a_404_on_refs_is_noted_and_says_commits_wait(tmp_path):
    """Branches and tags come in one list (`refs`): when it fails, commits wait for it."""
    world = generate(5, "tiny")
    repo = next(r for r in world.repositories.values() if r.tags)
    faults = {
        "failing_paths": (f"/2.0/repositories/{repo.full_name}/refs",),
        "failing_status": 404,
    }
    harness = Harness(world, str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync()
    assert summary.outcome == "partial"
    for table in ("branches", "tags"):
        sql = f"select count(*) from {table} where repository_id = ?"
        assert _count(harness.db, sql, repo.uuid) == 0
    errors = _errors(harness.db)
    assert [s for s, r in errors if "was not found" in r] == ["branches"]
    assert any(r.startswith("skipped: commits of " + repo.full_name) for _, r in errors)


def test_a_404_on_one_prs_comments_is_noted_not_tombstoned(tmp_path):
    world = generate(5, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo = _pr_repo(world)
    pr = next(p for p in repo.pullrequests.values() if p.comments)
    key = f"{repo.uuid}/pr/{pr.id}"
    alive = "select count(*) from comments where pullrequest_id = ? and deleted_at is null"
    before = _count(harness.db, alive, key)
    assert before > 0
    # An edit makes no feed entry: the PR's own comments are read again (issue 14).
    mutate.edit_comment(world, next(c for c in pr.comments if not c.deleted), random.Random(1))
    faults = harness.app.state.faults
    faults.failing_paths = (f"/2.0/repositories/{repo.full_name}/pullrequests/{pr.id}/comments",)
    faults.failing_status = 404
    assert harness.sync().outcome == "partial"
    assert _count(harness.db, alive, key) == before  # nothing tombstoned on a guess
    assert any(f"pr_comments of {key} answered 404" in r for _, r in _errors(harness.db))
    faults.failing_paths = ()
    harness.sync()
    assert differences(world, harness.db) == []


def test_a_removed_tracker_is_remembered_and_not_asked_again(tmp_path):
    world = generate(5, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    issues = _count(harness.db, "select count(*) from issues where deleted_at is null")
    assert issues > 0
    harness.app.state.config.issue_tracker_removed = True
    harness.sync()  # learns that the tracker is gone (one 410 per repository)
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert not [r.path for r in harness.log if r.path.endswith(TRACKER_LISTS)]
    assert _count(harness.db, "select count(*) from issues where deleted_at is null") == issues
    shown = status.render(status.collect(harness.db))
    assert shown.count("issue tracker removed upstream (410)") == sum(
        1 for r in world.repositories.values() if r.has_issues
    )
    harness.log.clear()
    harness.sync(Options(reconcile=True))  # re-checked on --reconcile (and --full)
    trackers = sum(1 for r in world.repositories.values() if r.has_issues)
    assert len([r for r in harness.log if r.status == 410]) == trackers
    assert _count(harness.db, "select count(*) from issues where deleted_at is null") == issues


# -- a child that always fails (issue 11.7) -------------------------------------------------


def test_one_child_that_always_fails_does_not_stall_the_pr_stream(tmp_path):
    world = generate(5, "tiny")
    repo = _pr_repo(world)
    stuck, other = list(repo.pullrequests.values())[:2]
    path = f"/2.0/repositories/{repo.full_name}/pullrequests/{stuck.id}/statuses"
    harness = Harness(world, str(tmp_path / "m.db"), faults={"failing_paths": (path,)})
    first = harness.sync()
    assert first.outcome == "partial"
    conn = sqlite3.connect(harness.db)
    watermark = conn.execute(
        "select watermark from sync_state where scope = ? and stream = 'pullrequests'",
        (repo.uuid,),
    ).fetchone()
    conn.close()
    assert watermark and watermark[0]  # the walk finished past the stuck PR
    assert any(f"pullrequests/{stuck.id}/statuses" in r for _, r in _errors(harness.db))
    tried = []
    for run in range(4):
        if run == 0:
            mutate.comment_pr(world, repo, other, random.Random(2))
        harness.log.clear()
        harness.sync()
        tried.append(any(r.path == path for r in harness.log))
    assert tried == [True, False, True, False]  # retried with backoff: 0, 1, 3 runs skipped
    other_key = f"{repo.uuid}/pr/{other.id}"
    comments = "select count(*) from comments where pullrequest_id = ? and deleted_at is null"
    assert _count(harness.db, comments, other_key) == len(other.comments)  # not held back
    harness.app.state.faults.failing_paths = ()
    for _ in range(4):
        harness.sync()
    assert differences(world, harness.db) == []


def test_only_issues_remembers_a_removed_tracker_too(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.app.state.config.issue_tracker_removed = True
    harness.sync(Options(only=frozenset({"issues"})))
    harness.log.clear()
    harness.sync(Options(only=frozenset({"issues"})))
    assert not [r.path for r in harness.log if r.path.endswith(TRACKER_LISTS)]


def test_without_named_workspaces_a_token_lacking_account_says_what_to_do(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.narrow("repository", "pullrequest")
    with pytest.raises(SyncError, match="name them with --workspace or --repo"):
        harness.sync(workspaces=())
    assert not os.path.exists(harness.db)


@pytest.mark.slow
def test_simulate_serves_narrow_scopes_and_a_removed_tracker():
    import subprocess
    import sys

    command = [sys.executable, "-m", "bbmirror", "simulate", "--size", "tiny", "--port", "0"]
    command += ["--token", "narrow-token", "--token-scopes", "repository,pullrequest,issue"]
    command += ["--issue-tracker-removed"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert " at http://127.0.0.1:" in first, proc.stderr.read() if proc.stderr else first
        base = first.strip().rsplit(" at ", 1)[1]
        mirror = next(line for line in proc.stdout if "Mirror it:" in line)
        workspace = mirror.split("--workspace ")[1].split()[0]
        headers = {"Authorization": "Bearer narrow-token"}
        user = httpx.get(f"{base}/user", headers=headers, timeout=10)
        assert user.status_code == 403
        assert user.json()["error"]["detail"]["required"] == ["account"]
        repos = httpx.get(f"{base}/repositories/{workspace}", headers=headers, timeout=10)
        assert repos.status_code == 200
        full_name = repos.json()["values"][0]["full_name"]
        issues = httpx.get(f"{base}/repositories/{full_name}/issues", headers=headers, timeout=10)
        assert issues.status_code == 410  # readable with the issue scope, but removed
        prs = httpx.get(f"{base}/repositories/{full_name}/pullrequests", headers=headers)
        assert prs.status_code == 200
        members = httpx.get(f"{base}/workspaces/{workspace}/members", headers=headers)
        assert members.status_code == 403  # no team scope
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_a_403_without_a_scope_message_skips_one_repository_not_the_family(tmp_path):
    world = generate(5, "tiny")
    repos = [r for r in world.repositories.values() if r.pullrequests]
    assert len(repos) >= 2
    denied, other = repos[:2]
    faults = {
        "failing_paths": (f"/2.0/repositories/{denied.full_name}/pullrequests",),
        "failing_status": 403,
    }
    harness = Harness(world, str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0) and summary.skipped == 1
    prs = "select count(*) from pullrequests where repository_id = ?"
    assert _count(harness.db, prs, other.uuid) == len(other.pullrequests)
    assert _count(harness.db, prs, denied.uuid) == 0
    reasons = [r for _, r in _errors(harness.db)]
    assert reasons == [
        f"skipped: the credential may not read the pullrequest streams of {denied.full_name} (403)"
    ]


def test_a_narrow_token_never_replaces_a_whole_workspace_with_a_condensed_one(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.sync()
    whole = "select json from workspaces order by id"
    before = sqlite3.connect(harness.db).execute(whole).fetchall()
    harness.narrow("repository", "pullrequest")
    harness.sync()
    assert sqlite3.connect(harness.db).execute(whole).fetchall() == before


def test_a_404_on_members_and_projects_is_recorded_and_the_run_goes_on(tmp_path):
    world = generate(5, "tiny")
    slug = sorted(world.workspaces)[0]
    faults = {
        "failing_paths": (f"/2.0/workspaces/{slug}/members", f"/2.0/workspaces/{slug}/projects"),
        "failing_status": 404,
    }
    harness = Harness(world, str(tmp_path / "m.db"), faults=faults)
    summary = harness.sync(workspaces=[])  # discovery: no GET /user either
    assert "/2.0/user" not in [r.path for r in harness.log]
    assert summary.outcome == "partial"
    assert sorted(s for s, _ in _errors(harness.db)) == ["members", "projects"]
    repos = sum(1 for r in world.repositories.values() if r.workspace == slug)
    assert _count(harness.db, "select count(*) from repositories") >= repos > 0


@pytest.mark.parametrize(
    ("scopes", "skipped"),
    [
        (("repository",), ["issue", "pipeline", "project", "pullrequest", "team"]),
        (("repository", "pullrequest", "project", "team"), ["issue", "pipeline"]),  # workspace
        (
            ("read:repository:bitbucket", "read:pullrequest:bitbucket", "read:workspace:bitbucket"),
            ["issue", "pipeline", "project"],
        ),
        (("pullrequest", "issue"), ["pipeline", "project", "team"]),
    ],
)
def test_each_narrow_token_mirrors_what_it_may_read_and_names_the_rest(tmp_path, scopes, skipped):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.narrow(*scopes)
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0) and summary.skipped > 0
    reasons = [r for _, r in _errors(harness.db)]
    assert sorted(r.split(" lacks the ")[1].split()[0] for r in reasons) == skipped
    world = harness.world
    assert _count(harness.db, "select count(*) from repositories") == len(world.repositories)
    prs = sum(len(r.pullrequests) for r in world.repositories.values())
    expected_prs = 0 if "pullrequest" in skipped else prs
    assert _count(harness.db, "select count(*) from pullrequests") == expected_prs
    issues = sum(len(r.issues) for r in world.repositories.values() if r.has_issues)
    expected_issues = 0 if "issue" in skipped else issues
    assert _count(harness.db, "select count(*) from issues") == expected_issues
