"""Pull request tasks in the simulated Cloud: generation, rendering, the list, mutations.

Shape: Bitbucket's current Cloud OpenAPI (``swagger.v3.json``, schemas ``task``,
``pullrequest_task``, ``pullrequest_comment_task``, ``paginated_tasks``; read through a
generated TypeScript copy found with the search tool): ``id``, ``content{raw, markup, html}``,
``state`` ``RESOLVED|UNRESOLVED``, ``creator``, ``resolved_by``, ``resolved_on``,
``created_on``, ``updated_on``, ``pending``, ``links{self, html}`` and, for a task on a
comment, ``comment``. The PR's ``task_count`` is "the number of open tasks".

Choices where the reference is silent (docs/simulator.md):

- The list is ordered by id, paged like comments (``pagelen`` up to 100).
- ``resolved_by`` and ``resolved_on`` are null on an unresolved task.
- Creating, resolving or deleting a task bumps the PR's ``updated_on``
  (``Settings.task_bumps_pr``; whether it does upstream is undocumented) and makes no
  activity entry (the 2.0 activity omits tasks, §3.13).
- Generation draws from an rng of its own per repository (``pr-tasks/{uuid}``): a PR's
  ``task_count`` (drawn by discussion.py) gets as many open tasks, plus zero to two resolved
  ones on the same PR. Then, from a second rng (``pr-tasks-done/{uuid}``, so the first pass's
  tasks and ids stay as they were), about one PR in six without open tasks gets one to three
  tasks, all resolved: ``task_count`` 0 with tasks behind it, common in the field (a reviewer
  asks, the author does, the task is ticked before the merge). Mutations make that state too
  (``task_activity`` resolves the last open task, or one it has just created).
"""

from __future__ import annotations

import random

from bbmirror.rows import to_utc
from bbmirror.simulator.cloud.render import _href, rendered, user_by_uuid
from bbmirror.simulator.cloud.render_pr import comment_links, pr_links
from bbmirror.simulator.cloud.world import PrTask, PullRequest, Repository, World
from bbmirror.simulator.common.clock import iso, to_us

Doc = dict

TEXTS = (
    "Add a test for the empty case",
    "Rename this before merging",
    "Update the changelog",
    "Remove the debug logging",
    "Check the error message with the team",
    "Document the new option in the README",
    "Handle the timeout here",
    "Split this function",
)
DONE_SHARE = 1 / 6  # PRs without open tasks whose tasks were all resolved (task_count 0)


def _between(rng: random.Random, start: str, end: str) -> str:
    a, b = to_us(start), to_us(end)
    return iso(rng.randint(a, b) if b > a else a)


def generate_tasks(world: World) -> None:
    """Tasks for every PR whose ``task_count`` says it has open ones, and PRs whose tasks are
    all resolved (see the docstring)."""
    for repo in world.repositories.values():
        rng = random.Random(f"pr-tasks/{repo.uuid}")
        for pr in sorted(repo.pullrequests.values(), key=lambda p: p.id):
            if pr.task_count <= 0:
                continue
            states = ["UNRESOLVED"] * pr.task_count + ["RESOLVED"] * rng.choice((0, 0, 1, 1, 2))
            for state in states:
                pr.tasks.append(_generated(world, pr, rng, state))
            pr.tasks.sort(key=lambda t: t.id)
    for repo in world.repositories.values():  # a second pass: the first one's ids stay put
        rng = random.Random(f"pr-tasks-done/{repo.uuid}")
        for pr in sorted(repo.pullrequests.values(), key=lambda p: p.id):
            if pr.tasks or rng.random() >= DONE_SHARE:
                continue
            for _ in range(rng.choice((1, 1, 2, 3))):
                pr.tasks.append(_generated(world, pr, rng, "RESOLVED"))


def _generated(world: World, pr: PullRequest, rng: random.Random, state: str) -> PrTask:
    people = [pr.author_uuid, *pr.reviewer_uuids]
    created = _between(rng, pr.created_on, pr.updated_on)
    comments = [c for c in pr.comments if not c.deleted and c.created_on <= created]
    on = rng.choice(comments) if comments and rng.random() < 0.5 else None
    task = PrTask(
        id=world.next_task_id,
        creator_uuid=on.user_uuid if on else rng.choice(people),
        content=rng.choice(TEXTS),
        created_on=created,
        updated_on=created,
        comment_id=on.id if on else None,
    )
    world.next_task_id += 1
    if state == "RESOLVED":
        task.state = state
        task.resolved_on = task.updated_on = _between(rng, created, pr.updated_on)
        task.resolved_by_uuid = rng.choice(people)
    return task


def render_task(world: World, repo: Repository, pr: PullRequest, t: PrTask, base: str, html: str):
    """A ``pullrequest_comment_task`` (a ``pullrequest_task`` with its comment, if any)."""
    api, web = pr_links(repo, pr.id, base, html)
    doc: Doc = {
        "id": t.id,
        "created_on": t.created_on,
        "updated_on": t.updated_on,
        "state": t.state,
        "content": rendered(t.content),
        "creator": user_by_uuid(world, t.creator_uuid, base, html),
        "pending": False,
        "resolved_on": t.resolved_on,
        "resolved_by": user_by_uuid(world, t.resolved_by_uuid, base, html),
        "links": {"self": _href(f"{api}/tasks/{t.id}"), "html": _href(f"{web}/tasks/{t.id}")},
    }
    if t.comment_id is not None:
        doc["comment"] = {"id": t.comment_id, "links": comment_links(api, web, t.comment_id)}
    return doc


def pr_tasks(c):  # c: call.Call
    """``GET …/pullrequests/{id}/tasks``: the PR's tasks by id."""
    repo, pr = c.pr()
    return c.page(pr.tasks, lambda t: render_task(c.world, repo, pr, t, c.base, c.html))


# -- mutations --------------------------------------------------------------------------------


def _touch(world: World, pr: PullRequest, t: str) -> None:
    pr.task_count = sum(1 for x in pr.tasks if x.state == "UNRESOLVED")
    if world.settings.task_bumps_pr:
        pr.updated_on = t


def create_task(
    world: World, pr: PullRequest, user_uuid: str, text: str, comment_id: int | None = None
) -> PrTask:
    """A new open task (on a comment when ``comment_id`` is given)."""
    t = world.tick()
    task = PrTask(world.next_task_id, user_uuid, text, t, t, comment_id=comment_id)
    world.next_task_id += 1
    pr.tasks.append(task)
    _touch(world, pr, t)
    return task


def resolve_task(world: World, pr: PullRequest, task: PrTask, user_uuid: str) -> None:
    """Resolve an open task, or reopen a resolved one."""
    t = world.tick()
    if task.state == "UNRESOLVED":
        task.state, task.resolved_by_uuid, task.resolved_on = "RESOLVED", user_uuid, t
    else:
        task.state, task.resolved_by_uuid, task.resolved_on = "UNRESOLVED", None, None
    task.updated_on = t
    _touch(world, pr, t)


def delete_task(world: World, pr: PullRequest, task: PrTask) -> None:
    """Delete a task: it vanishes from the list."""
    pr.tasks.remove(task)
    _touch(world, pr, world.tick())


def task_activity(world: World, rng: random.Random, n: int) -> list[str]:
    """``n`` task mutations (create, resolve, reopen) on random PRs, from the caller's rng.

    A task created here may be resolved in the same batch: on a PR with no other open task
    that leaves ``task_count`` at 0 with a task behind it, as in the field."""
    done = []
    repos = sorted(world.repositories.values(), key=lambda r: r.uuid)
    for _ in range(n):
        repo = rng.choice(repos)
        prs = sorted(repo.pullrequests.values(), key=lambda p: p.id)
        if not prs:
            continue
        pr = rng.choice(prs)
        people = [pr.author_uuid, *pr.reviewer_uuids]
        if pr.tasks and rng.random() < 0.6:
            task = rng.choice(pr.tasks)
            resolve_task(world, pr, task, rng.choice(people))
            done.append(f"toggle task {task.id} on {repo.slug}#{pr.id}")
        else:
            task = create_task(world, pr, rng.choice(people), rng.choice(TEXTS))
            done.append(f"create task {task.id} on {repo.slug}#{pr.id}")
    return done


# -- oracle -----------------------------------------------------------------------------------


def expected_tasks(pr: PullRequest, pr_key: str, source: str) -> dict[str, tuple]:
    """The ``pullrequest_tasks`` rows a mirror holds for one PR (common/oracle.py's columns)."""
    return {
        f"{pr_key}/task/{t.id}": (
            pr_key,
            t.id,
            f"{source}/comment/{t.comment_id}" if t.comment_id is not None else None,
            t.state,
            t.creator_uuid,
            t.resolved_by_uuid,
            to_utc(t.resolved_on) if t.resolved_on else None,
        )
        for t in pr.tasks
    }
