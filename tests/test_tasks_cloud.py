"""Cloud pull request tasks (issue 15): transform, simulator, full sync, incremental, cost."""

from __future__ import annotations

import random

from dbstate import keyed
from mirror import Harness

from bbmirror import status
from bbmirror.engine.outcome import Options
from bbmirror.flavours.cloud.rows_tasks import RECONCILE_ONLY, pr_task
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.tasks import create_task, delete_task, resolve_task

# A task as GET /2.0/repositories/{w}/{r}/pullrequests/{id}/tasks lists it (OpenAPI
# ``pullrequest_comment_task``).
TASK = {
    "id": 7,
    "created_on": "2026-01-02T10:00:00.000000+00:00",
    "updated_on": "2026-01-03T10:00:00.000000+00:00",
    "state": "RESOLVED",
    "content": {"raw": "Update the changelog", "markup": "markdown", "html": "<p>U</p>"},
    "creator": {"uuid": "{u-1}", "display_name": "Ada", "type": "user"},
    "pending": False,
    "resolved_on": "2026-01-03T12:00:00+02:00",
    "resolved_by": {"uuid": "{u-2}", "display_name": "Bob", "type": "user"},
    "comment": {"id": 1234, "links": {}},
    "links": {"self": {"href": "https://api.bitbucket.org/2.0/x/tasks/7"}},
}


def test_a_task_becomes_a_row_with_its_comment_creator_and_resolver():
    rs = pr_task(TASK, source="c", repository_id="{r}", pullrequest_id="{r}/pr/3")
    (row,) = rs["pullrequest_tasks"]
    assert row["id"] == "{r}/pr/3/task/7"
    assert (row["comment_id"], row["state"], row["content"]) == (
        "c/comment/1234",
        "RESOLVED",
        "Update the changelog",
    )
    assert (row["creator_id"], row["resolved_by_id"]) == ("{u-1}", "{u-2}")
    assert row["resolved_on"] == "2026-01-03T10:00:00.000000+00:00"  # UTC
    assert sorted(u["id"] for u in rs["users"]) == ["{u-1}", "{u-2}"]


def test_an_open_task_without_a_comment_has_no_resolution():
    obj = {**TASK, "state": "UNRESOLVED", "resolved_on": None, "resolved_by": None}
    del obj["comment"]
    (row,) = pr_task(obj, source="c", repository_id="{r}", pullrequest_id="p")["pullrequest_tasks"]
    assert (row["comment_id"], row["resolved_by_id"], row["resolved_on"]) == (None, None, None)


def test_generated_tasks_agree_with_task_count_and_the_pr():
    world = generate(11, "small")
    prs = [p for r in world.repositories.values() for p in r.pullrequests.values()]
    assert any(p.tasks for p in prs)
    done = [p for p in prs if p.tasks and p.task_count == 0]  # common in the field
    assert done and all(t.state == "RESOLVED" for p in done for t in p.tasks)
    for pr in prs:
        assert pr.task_count == sum(t.state == "UNRESOLVED" for t in pr.tasks)
        for t in pr.tasks:
            assert pr.created_on <= t.created_on <= t.updated_on <= pr.updated_on
            assert (t.resolved_on is None) == (t.state == "UNRESOLVED")
            if t.comment_id is not None:
                assert t.comment_id in {c.id for c in pr.comments}


def test_task_activity_leaves_prs_whose_tasks_are_all_resolved():
    """Created and resolved in one batch, on a PR that had none: ``task_count`` stays 0."""
    from bbmirror.simulator.cloud.tasks import task_activity

    world = generate(3, "tiny")
    prs = [p for r in world.repositories.values() for p in r.pullrequests.values()]
    bare = [p for p in prs if not p.tasks]
    task_activity(world, random.Random(5), 40)
    done = [p for p in bare if p.tasks and p.task_count == 0]
    assert done and all(t.state == "RESOLVED" for p in done for t in p.tasks)


def _tasks(db: str, where: str = "1") -> dict[str, tuple]:
    sql = f"select id, state, deleted_at is not null from pullrequest_tasks where {where}"
    return keyed(db, sql)


def test_a_full_sync_reads_every_prs_tasks_once(mirrored):
    """``task_count`` counts open tasks only: a PR whose tasks are all resolved shows 0."""
    m = mirrored("cloud")
    assert m.harness.oracle(m.harness.world, m.db) == []  # tasks included (common/oracle.py)
    world = m.harness.world
    asked = [e for e in m.harness.log if "/tasks" in str(e)]
    prs = [p for r in world.repositories.values() for p in r.pullrequests.values()]
    assert len(asked) == len(prs)  # fewer than 100 tasks a PR: one page each
    done = [p for p in prs if p.tasks and not p.task_count]
    assert done
    assert {t.id for p in done for t in p.tasks} <= {
        int(k.rsplit("/", 1)[1]) for k in _tasks(m.db, "state = 'RESOLVED'")
    }


def test_created_resolved_and_deleted_tasks_reach_the_mirror(mirrored, tmp_path):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    world = harness.world
    repo = next(iter(world.repositories.values()))
    prs = sorted(repo.pullrequests.values(), key=lambda p: p.id)
    quiet = next(p for p in prs if not p.tasks)  # no task: its tasks list was never asked
    busy = next(p for p in prs if p.task_count == 1 and len(p.tasks) == 1)
    new = create_task(world, quiet, quiet.author_uuid, "Write the migration")
    resolve_task(world, busy, busy.tasks[0], busy.author_uuid)  # its count drops to 0
    harness.log.clear()
    harness.sync_equal()
    asked = sorted(str(e) for e in harness.log if "/tasks" in str(e))
    assert len(asked) == 2  # the two PRs that moved, nothing else
    assert _tasks(harness.db, f"task_id = {new.id}") != {}
    # Every task of a PR deleted: the list is still read (rows are mirrored), rows tombstoned.
    gone = busy.tasks[0]
    delete_task(world, busy, gone)
    harness.sync_equal()
    assert set(_tasks(harness.db, f"task_id = {gone.id}").values()) == {("RESOLVED", 1)}


def test_a_no_op_run_asks_for_no_task(mirrored, tmp_path):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    harness.log.clear()
    harness.sync_equal()
    assert not [e for e in harness.log if "/tasks" in str(e)]


def test_random_task_activity_converges(tmp_path):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    rng = random.Random(4)
    from bbmirror.simulator.cloud.tasks import task_activity

    for _ in range(3):
        assert task_activity(world, rng, 4)
        harness.sync_equal()


def test_a_task_created_and_resolved_between_runs_on_a_pr_without_tasks_is_seen(mirrored, tmp_path):
    """``task_count`` stays 0, but the PR's ``updated_on`` moved: its tasks are read."""
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    world = harness.world
    repo = next(iter(world.repositories.values()))
    pr = next(p for p in sorted(repo.pullrequests.values(), key=lambda p: p.id) if not p.tasks)
    task = create_task(world, pr, pr.author_uuid, "Squash the fixups")
    resolve_task(world, pr, task, pr.author_uuid)
    assert pr.task_count == 0
    harness.sync_equal()
    assert set(_tasks(harness.db, f"task_id = {task.id}").values()) == {("RESOLVED", 0)}


def test_a_task_change_that_moves_no_updated_on_waits_for_reconcile_and_status_says_so(
    mirrored, tmp_path
):
    """Upstream may not bump the PR for a task (undocumented): a plain run cannot see it."""
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    world = harness.world
    world.settings.task_bumps_pr = False
    prs = [p for r in world.repositories.values() for p in r.pullrequests.values()]
    pr = next(p for p in prs if p.task_count)
    task = next(t for t in pr.tasks if t.state == "UNRESOLVED")
    resolve_task(world, pr, task, pr.author_uuid)
    harness.sync()
    missing = [d for d in harness.oracle(world, harness.db) if "pullrequest_tasks" in d]
    assert len(missing) == 1 and f"/task/{task.id}" in missing[0]
    (source,) = status.collect(harness.db)["sources"]
    assert source["reconcile_only"] == [f"{RECONCILE_ONLY} (last --reconcile or --full: never)"]
    assert "reconcile     pull request tasks" in status.render(status.collect(harness.db))
    harness.sync_equal(Options(reconcile=True))
    (source,) = status.collect(harness.db)["sources"]
    assert "never" not in source["reconcile_only"][0]
