"""Narrow Data Center credentials and the status policy on Server (issue 12.2-12.3, 11.7)."""

from __future__ import annotations

import sqlite3

import dbstate
import worlds
from dc_mirror import TOKEN as DC_TOKEN
from dc_mirror import DcHarness
from test_policy import _get

from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig
from bbmirror.simulator.server.generate import generate_dc

_count = dbstate.count


def _reasons(db: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT reason FROM sync_errors ORDER BY id")]
    finally:
        conn.close()


def test_dc_simulator_token_tied_to_a_project_gets_401_elsewhere():
    world = generate_dc(3, "tiny")
    keys = sorted(p.key for p in world.projects.values())
    viewer = world.users[min(world.users)].slug
    config = DcConfig(base_url="http://bitbucket.test", tokens={DC_TOKEN: viewer})
    config.access = {DC_TOKEN: (keys[0],)}
    app = create_dc_app(world, config)
    assert _get(app, f"/rest/api/1.0/projects/{keys[0]}/repos", DC_TOKEN).status_code == 200
    other = _get(app, f"/rest/api/1.0/projects/{keys[1]}/repos", DC_TOKEN)
    assert other.status_code == 401
    assert other.json()["errors"][0]["exceptionName"].endswith("AuthorisationException")
    assert _get(app, "/rest/api/1.0/users", DC_TOKEN).status_code == 401


class DeniedActivity(DcHarness):
    def make_app(self):
        app = super().make_app()
        app.state.config.deny = (r"/pull-requests/\d+/activities$",)
        return app


def test_dc_missing_permission_on_activity_skips_it_and_the_run_goes_on(tmp_path):
    harness = DeniedActivity(generate_dc(3, "tiny"), str(tmp_path / "m.db"))
    summary = harness.sync(projects=sorted(p.key for p in harness.world.projects.values()))
    assert (summary.outcome, summary.errors) == ("ok", 0) and summary.skipped > 0
    prs = sum(len(r.pull_requests) for r in harness.world.repositories.values())
    assert _count(harness.db, "select count(*) from pullrequests") == prs
    reasons = _reasons(harness.db)
    assert reasons and all(r.startswith("skipped:") for r in reasons)
    with_prs = sum(1 for r in harness.world.repositories.values() if r.pull_requests)
    assert len(reasons) == with_prs  # one note per repository, not one per pull request


def test_dc_an_open_pr_whose_activity_always_fails_backs_off_too(tmp_path):
    world = generate_dc(3, "tiny")
    repo, pr = next(
        (r, p)
        for r, p in worlds.prs(world)
        if p.state == "OPEN"  # re-listed every run: must not reset its backoff
    )
    key = world.projects[repo.project_id].key
    path = f"/rest/api/1.0/projects/{key}/repos/{repo.slug}/pull-requests/{pr.id}/activities"
    harness = DcHarness(world, str(tmp_path / "m.db"), faults={"failing_paths": (path,)})
    projects = sorted(p.key for p in world.projects.values())
    assert harness.sync(projects=projects).outcome == "partial"
    tried = []
    for _ in range(4):
        harness.log.clear()
        harness.sync(projects=projects)
        tried.append(any(r.path == path for r in harness.log))
    assert tried == [True, False, True, False]
    harness.app.state.faults.failing_paths = ()
    for _ in range(4):
        harness.sync(projects=projects)
    key_id = f"dc/repo/{repo.id}/pr/{pr.id}"
    activity = "select count(*) from pullrequest_activity where pullrequest_id = ?"
    assert _count(harness.db, activity, key_id) > 0


class ProjectToken(DcHarness):
    def make_app(self):
        app = super().make_app()
        first = sorted(p.key for p in self.world.projects.values())[0]
        app.state.config.access = {DC_TOKEN: (first,)}
        return app


def test_dc_project_token_syncs_its_named_project_without_users(tmp_path):
    harness = ProjectToken(generate_dc(3, "tiny"), str(tmp_path / "m.db"))
    first = sorted(p.key for p in harness.world.projects.values())[0]
    summary = harness.sync(projects=[first])
    assert summary.outcome == "ok", summary.message
    assert not [r for r in harness.log if r.path.endswith("/users")]
    project = next(p for p in harness.world.projects.values() if p.key == first)
    repos = [r for r in harness.world.repositories.values() if r.project_id == project.id]
    assert _count(harness.db, "select count(*) from repositories") == len(repos) > 0
