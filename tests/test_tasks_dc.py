"""Data Center pull request tasks (issue 15): BLOCKER comments from the activities already read.

No request of their own: a task is a comment with severity BLOCKER, embedded in the PR's
COMMENTED activity like every comment. Its resolution moves the PR's ``openTaskCount`` (a
marker), and ``updatedDate`` only when the server bumps it for comment changes
(``DcSettings.comment_bumps_pr``, undocumented): a PR on a page the run reads (every open PR,
and the newest-first pages down to the watermark) is seen; a closed PR further down whose
date did not move waits for --reconcile.
"""

from __future__ import annotations

from dbstate import keyed

from bbmirror.engine import Options
from bbmirror.flavours.server import rows as server_rows
from bbmirror.simulator.server.mutate_pr import delete_comment, resolve_task

USER = {"name": "ada", "id": 7, "slug": "ada", "displayName": "Ada", "type": "NORMAL"}
BOB = {**USER, "name": "bob", "id": 8, "slug": "bob", "displayName": "Bob"}


def _activity(comment: dict) -> dict:
    return {
        "id": 50,
        "createdDate": 1767225600000,
        "user": USER,
        "action": "COMMENTED",
        "commentAction": "ADDED",
        "comment": comment,
    }


def _comment(cid: int, **extra) -> dict:
    base = {"id": cid, "version": 1, "text": "Fix the build", "author": USER, "comments": []}
    times = {"createdDate": 1767225600000, "updatedDate": 1767229200000}
    return {**base, **times, "severity": "NORMAL", "state": "OPEN", **extra}


def _rows(comment: dict) -> list[dict]:
    rs = server_rows.activity(
        _activity(comment), source="dc", repository_id="dc/repo/1", pullrequest_id="dc/repo/1/pr/2"
    )
    return rs.get("pullrequest_tasks", [])


def test_a_blocker_comment_and_a_blocker_reply_are_tasks_a_normal_comment_is_not():
    reply = _comment(11, severity="BLOCKER")
    rows = _rows(_comment(10, comments=[reply]))
    assert [(r["id"], r["state"], r["comment_id"]) for r in rows] == [
        ("dc/repo/1/pr/2/task/11", "UNRESOLVED", "dc/comment/11")
    ]
    assert rows[0]["creator_id"] == "dc/user/7"
    assert rows[0]["content"] == "Fix the build"


def test_a_resolved_task_keeps_its_resolver_and_date():
    (row,) = _rows(
        _comment(12, severity="BLOCKER", state="RESOLVED", resolvedDate=1767232800000, resolver=BOB)
    )
    assert (row["state"], row["resolved_by_id"]) == ("RESOLVED", "dc/user/8")
    assert row["resolved_on"] == "2026-01-01T02:00:00.000000+00:00"


def _tasks(db: str) -> dict[str, tuple]:
    return keyed(db, "select id, state, resolved_on, deleted_at is not null from pullrequest_tasks")


def test_a_full_sync_mirrors_tasks_without_asking_for_them(mirrored):
    m = mirrored("server")
    assert m.harness.oracle(m.harness.world, m.db) == []  # tasks compared (server/oracle.py)
    states = {row[0] for row in _tasks(m.db).values()}
    assert states == {"RESOLVED", "UNRESOLVED"}
    asked = [str(e) for e in m.harness.log if "blocker-comments" in str(e) or "/tasks" in str(e)]
    assert asked == []


def _blockers(world, state: str, pr_state: str):
    for repo in sorted(world.repositories.values(), key=lambda r: r.id):
        for pr in sorted(repo.pull_requests.values(), key=lambda p: p.id):
            for c in pr.all_comments():
                if c.severity == "BLOCKER" and c.state == state and pr.state == pr_state:
                    return repo, pr, c
    raise AssertionError(f"no {state} task on a {pr_state} PR")


def test_a_resolution_on_a_merged_pr_shows_when_the_date_moves(mirrored, tmp_path):
    harness = mirrored("server").copy(str(tmp_path / "m.db"))
    harness.app.state.config.max_limits = {"pull-requests": 3}
    repo, pr, task = _blockers(harness.world, "OPEN", "MERGED")
    resolve_task(harness.world, pr, task)
    harness.sync_equal()
    key = f"dc/repo/{repo.id}/pr/{pr.id}/task/{task.id}"
    assert _tasks(harness.db)[key][0] == "RESOLVED"


def test_without_a_date_bump_a_closed_pr_waits_for_reconcile_an_open_one_does_not(
    mirrored, tmp_path
):
    harness = mirrored("server", "small").copy(str(tmp_path / "m.db"))
    world = harness.world
    world.settings.comment_bumps_pr = False
    # Pages shorter than the list: the walk stops at the watermark, the old PR is not listed.
    harness.app.state.config.max_limits = {"pull-requests": 3}
    closed = _blockers(world, "OPEN", "MERGED")
    opened = _blockers(world, "OPEN", "OPEN")
    for _, pr, task in (closed, opened):
        resolve_task(world, pr, task)
    harness.sync()
    keys = [f"dc/repo/{r.id}/pr/{p.id}/task/{t.id}" for r, p, t in (closed, opened)]
    assert [_tasks(harness.db)[k][0] for k in keys] == ["UNRESOLVED", "RESOLVED"]
    harness.sync_equal(Options(reconcile=True))
    assert [_tasks(harness.db)[k][0] for k in keys] == ["RESOLVED", "RESOLVED"]


def test_a_deleted_task_is_tombstoned(mirrored, tmp_path):
    harness = mirrored("server").copy(str(tmp_path / "m.db"))
    world = harness.world
    for state in ("OPEN", "RESOLVED"):
        repo, pr, task = _blockers(world, state, "OPEN")
        if not task.replies and delete_comment(world, pr, task):
            break
    else:
        raise AssertionError("no deletable task")
    harness.sync_equal()
    key = f"dc/repo/{repo.id}/pr/{pr.id}/task/{task.id}"
    assert _tasks(harness.db)[key][2] == 1
