"""FALLBACK TEST DATA, not Bitbucket's: pull-request tasks, until the simulator serves tasks.

Every other Delivery chart is tested on the simulator's own rows. Tasks are served by the
simulator only from the tasks branch (issue 15) on; until it is merged, the "tasks open at
merge" chart would have nothing to show, so ``fill`` writes made-up tasks for a mirrored Cloud
world's merged pull requests, and only when ``pullrequest_tasks`` is empty (once the simulator
serves tasks, its rows and ``pr.tasks`` are used instead and this module can go). Draws come
from ``random.Random(f"{repository uuid}:tasks-fallback")``; every id starts with
``fallback/``.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bbmirror.store import Store


@dataclass(frozen=True)
class Task:
    """What the expectations read of a task (the simulator's tasks have the same fields)."""

    created_on: str
    resolved_on: str | None


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def made_up(world) -> dict[str, list[Task]]:
    """The fallback tasks of every pull request (by row id), the same for the same world."""
    out: dict[str, list[Task]] = {}
    for repo in sorted(world.repositories.values(), key=lambda r: r.full_name):
        rng = random.Random(f"{repo.uuid}:tasks-fallback")
        for pr in repo.pullrequests.values():
            if rng.random() >= 0.4:
                continue
            start, end = _utc(pr.created_on), _utc(pr.updated_on)
            span = max((end - start).total_seconds() / 3600, 0.1)
            tasks = []
            for _ in range(rng.randint(1, 3)):  # some made after the merge, some left open
                created = start + timedelta(hours=rng.uniform(0, span * 1.1))
                done = rng.random() < 0.6
                resolved = created + timedelta(hours=rng.uniform(0.1, span)) if done else None
                tasks.append(Task(_stamp(created), _stamp(resolved) if resolved else None))
            out[f"{repo.uuid}/pr/{pr.id}"] = tasks
    return out


def fill(db: str, world) -> int:
    """Write the fallback tasks if the mirror has no task rows; how many were written."""
    conn = sqlite3.connect(db)
    try:
        if conn.execute("SELECT 1 FROM pullrequest_tasks LIMIT 1").fetchone():
            return 0
    finally:
        conn.close()
    rows = []
    for pr_id, tasks in made_up(world).items():
        for n, task in enumerate(tasks):
            rows.append(
                {
                    "id": f"fallback/{pr_id}/task/{n}",
                    "source": "cloud",
                    "repository_id": pr_id.split("/pr/")[0],
                    "pullrequest_id": pr_id,
                    "task_id": n + 1,
                    "content": f"fallback task {n}",
                    "state": "RESOLVED" if task.resolved_on else "UNRESOLVED",
                    "created_on": task.created_on,
                    "updated_on": task.resolved_on or task.created_on,
                    "resolved_on": task.resolved_on,
                    "json": '{"fallback": true}',
                }
            )
    with Store.open(db) as store:
        store.write({"pullrequest_tasks": rows})
    return len(rows)
