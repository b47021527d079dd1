"""Bitbucket Pipelines in the simulated world: which repositories run them, their runs and steps,
and how activity moves them (reference bitbucket-cloud.md §3.20).

Generation draws from an rng of its own per repository (``pipelines/{uuid}``), after the rest
of the world is built, so every other byte of a seed's world is unchanged. Choices where the
reference is silent (docs/simulator.md):

- Two repositories in three use Pipelines (index ``i % 3 != 2``); the others never ran one.
- Runs: pushes to the main branch (its newest first-parent commits) and pull requests (their
  source commit, a ``pipeline_pullrequest_target``), up to ``len(commits) // 20`` per
  repository (5 to 60). A failed or stopped run is re-run (trigger MANUAL, same commit and
  target) three times in ten, so "failed then passed" happens.
- Results: SUCCESSFUL 75 %, FAILED 18 %, STOPPED 4 %, ERROR 3 %. A failed step ends the run:
  later steps are NOT_RUN with no times. ``build_seconds_used`` is the steps' sum.
- The newest run of a repository is still PENDING or IN_PROGRESS two times in five.
- Activity (``advance``, after each ``random_activity``): runs started before the clock move
  on (PENDING → IN_PROGRESS → COMPLETED), and a new head of a branch or of an open pull
  request's source gets a run. Its own rng: the mutations drawn before are unchanged.
"""

from __future__ import annotations

import random

from bbmirror.simulator.cloud.history import member_uuids
from bbmirror.simulator.cloud.pipeline_model import Pipeline, PipelineStep
from bbmirror.simulator.cloud.world import Repository, World
from bbmirror.simulator.common.clock import END_US, MINUTE, US, iso, to_us
from bbmirror.simulator.common.pools import new_uuid

STEP_NAMES = ("Build", "Unit tests", "Lint", "Integration tests", "Deploy to staging")
RESULTS = (("SUCCESSFUL", 75), ("FAILED", 18), ("STOPPED", 4), ("ERROR", 3))
RERUN = 0.3


def uses_pipelines(index: int) -> bool:
    """Two repositories in three (by creation order) have Pipelines enabled."""
    return index % 3 != 2


def generate(world: World) -> None:
    """Give every repository that uses Pipelines its history of runs."""
    for index, repo in enumerate(world.repositories.values()):
        if uses_pipelines(index):
            repo.pipelines = _history(world, repo, random.Random(f"pipelines/{repo.uuid}"))


def _history(world: World, repo: Repository, rng: random.Random) -> list[Pipeline]:
    cap = max(5, min(60, len(repo.commits) // 20))
    runs: list[Pipeline] = []
    for sha in _main_line(repo)[: cap * 3 // 5]:
        at = to_us(repo.commits[sha].date) + rng.randint(30, 600) * US
        runs.extend(_runs(world, repo, rng, "branch", repo.mainbranch, sha, at))
    prs = sorted(repo.pullrequests.values(), key=lambda p: p.created_on, reverse=True)
    for pr in prs[: cap - len(runs) if len(runs) < cap else 0]:
        if pr.source_commit not in repo.commits:
            continue
        start = max(to_us(pr.created_on), to_us(repo.commits[pr.source_commit].date))
        at = start + rng.randint(30, 600) * US
        runs.extend(
            _runs(world, repo, rng, "pullrequest", pr.source_branch, pr.source_commit, at, pr)
        )
    runs = [r for r in runs if to_us(r.created_on) < END_US]
    runs.sort(key=lambda r: (r.created_on, r.uuid))
    for number, run in enumerate(runs, 1):
        run.build_number = number
    if runs and rng.random() < 0.4:
        _unfinish(runs[-1], rng)
    return runs


def _main_line(repo: Repository) -> list[str]:
    """The main branch's first-parent chain, newest first."""
    chain, sha = [], repo.branches.get(repo.mainbranch)
    while sha and sha in repo.commits and len(chain) < 200:
        chain.append(sha)
        parents = repo.commits[sha].parents
        sha = parents[0] if parents else None
    return chain


def _runs(world, repo, rng, target, ref, sha, at, pr=None) -> list[Pipeline]:
    """A run for a push or a PR, and its manual re-runs while it fails (at most two)."""
    author = repo.commits[sha].author_uuid or rng.choice(member_uuids(world, repo))
    first = _run(rng, target, ref, sha, at, "PUSH", author, pr)
    runs = [first]
    while runs[-1].result != "SUCCESSFUL" and len(runs) < 3 and rng.random() < RERUN:
        again = to_us(runs[-1].completed_on or runs[-1].created_on) + rng.randint(2, 120) * MINUTE
        actor = rng.choice(member_uuids(world, repo))
        runs.append(_run(rng, target, ref, sha, again, "MANUAL", actor, pr))
    return runs


def _run(rng, target, ref, sha, at, trigger, creator, pr) -> Pipeline:
    """One COMPLETED run created at ``at`` (microseconds)."""
    result = rng.choices([r for r, _ in RESULTS], [w for _, w in RESULTS])[0]
    run = Pipeline(
        uuid=new_uuid(rng),
        build_number=0,
        target=target,
        ref_name=ref,
        commit=sha,
        trigger=trigger,
        creator_uuid=creator,
        state="COMPLETED",
        created_on=iso(at),
        pullrequest_id=pr.id if pr else None,
        destination=pr.destination_branch if pr else None,
        destination_commit=pr.destination_commit if pr else None,
    )
    names = STEP_NAMES[: rng.randint(1, len(STEP_NAMES))]
    fails = rng.randrange(len(names)) if result != "SUCCESSFUL" else -1
    clock = at + rng.randint(5, 90) * US  # queued before the first step starts
    for i, name in enumerate(names):
        step = PipelineStep(new_uuid(rng), name, "COMPLETED")
        if 0 <= fails < i:
            step.result = "NOT_RUN"
        else:
            seconds = rng.randint(20, 900)
            step.started_on, step.completed_on = iso(clock), iso(clock + seconds * US)
            step.build_seconds_used = seconds
            step.result = result if i == fails else "SUCCESSFUL"
            clock += seconds * US + rng.randint(1, 20) * US
        run.steps.append(step)
    run.result, run.completed_on = result, iso(clock)
    run.build_seconds_used = sum(s.build_seconds_used for s in run.steps)
    return run


def _unfinish(run: Pipeline, rng: random.Random) -> None:
    """Make the newest run still pending or running at the world's clock (started in the last
    twenty minutes: the field expires runs left waiting for hours)."""
    start = max(to_us(run.created_on), END_US - 20 * MINUTE)
    run.created_on, run.result, run.completed_on, run.build_seconds_used = iso(start), None, None, 0
    run.state = "PENDING" if rng.random() < 0.35 else "IN_PROGRESS"
    for i, step in enumerate(run.steps):
        step.state, step.result, step.started_on, step.completed_on = "PENDING", None, None, None
        step.build_seconds_used = 0
        if i == 0 and run.state == "IN_PROGRESS":
            step.state, step.started_on = "IN_PROGRESS", iso(start + 30 * US)


# -- activity ------------------------------------------------------------------------------


def advance(world: World) -> list[str]:
    """Runs move on and new heads get runs, at the world's clock (no tick: the clock of the
    other mutations is unchanged); an rng of its own, seeded by the clock."""
    rng = random.Random(f"pipelines-activity/{world.clock}")
    now = to_us(world.clock)
    done: list[str] = []
    for repo in world.repositories.values():
        if not repo.pipelines:
            continue
        for run in repo.pipelines:
            if run.state != "COMPLETED" and to_us(run.created_on) < now:
                _move(run, now, rng)
                done.append(f"pipeline {repo.full_name}#{run.build_number} {run.state}")
        for target, ref, sha, pr in _new_heads(repo):
            run = _run(rng, target, ref, sha, now, "PUSH", _pusher(world, repo, sha, rng), pr)
            run.build_number = repo.pipelines[-1].build_number + 1
            run.state, run.result, run.completed_on, run.build_seconds_used = (
                "PENDING",
                None,
                None,
                0,
            )
            for step in run.steps:
                step.state, step.result = "PENDING", None
                step.started_on = step.completed_on = None
                step.build_seconds_used = 0
            repo.pipelines.append(run)
            done.append(f"pipeline {repo.full_name}#{run.build_number} for {sha[:12]}")
    return done


def _pusher(world: World, repo: Repository, sha: str, rng: random.Random) -> str:
    return repo.commits[sha].author_uuid or rng.choice(member_uuids(world, repo))


def _new_heads(repo: Repository) -> list[tuple]:
    """Branch heads and open PRs' sources pushed after the newest run, without a run yet."""
    newest = to_us(repo.pipelines[-1].created_on)
    ran = {(r.commit, r.pullrequest_id) for r in repo.pipelines}
    found: list[tuple] = []
    for name, sha in sorted(repo.branches.items()):
        commit = repo.commits.get(sha)
        if commit and to_us(commit.date) > newest and (sha, None) not in ran:
            found.append(("branch", name, sha, None))
    for pr in repo.pullrequests.values():
        commit = repo.commits.get(pr.source_commit)
        if pr.state != "OPEN" or commit is None or to_us(commit.date) <= newest:
            continue
        if (pr.source_commit, pr.id) not in ran:
            found.append(("pullrequest", pr.source_branch, pr.source_commit, pr))
    found.sort(key=lambda t: to_us(repo.commits[t[2]].date), reverse=True)
    return found[:3]  # a burst of pushes queues; the field runs them all, three is plenty here


def _move(run: Pipeline, now: int, rng: random.Random) -> None:
    """PENDING → IN_PROGRESS; IN_PROGRESS → COMPLETED with a result, its steps to match."""
    if run.state == "PENDING":
        run.state = "IN_PROGRESS"
        first = run.steps[0]
        first.state, first.started_on = "IN_PROGRESS", iso(now)
        return
    result = rng.choices([r for r, _ in RESULTS], [w for _, w in RESULTS])[0]
    start = to_us(run.created_on)
    span = max(1, (now - start) // US)
    fails = rng.randrange(len(run.steps)) if result != "SUCCESSFUL" else -1
    share = max(1, span // (len(run.steps) + 1))
    clock = start
    for i, step in enumerate(run.steps):
        step.state = "COMPLETED"
        if 0 <= fails < i:
            step.result, step.started_on, step.completed_on, step.build_seconds_used = (
                "NOT_RUN",
                None,
                None,
                0,
            )
            continue
        step.started_on = step.started_on or iso(clock)
        clock = max(clock + share * US, to_us(step.started_on) + US)
        clock = min(clock, now)
        step.completed_on = iso(clock)
        step.build_seconds_used = max(0, (clock - to_us(step.started_on)) // US)
        step.result = result if i == fails else "SUCCESSFUL"
    run.state, run.result, run.completed_on = "COMPLETED", result, iso(now)
    run.build_seconds_used = sum(s.build_seconds_used for s in run.steps)


# -- the oracle ------------------------------------------------------------------------------


def _utc(value: str | None) -> str | None:
    return iso(to_us(value)) if value else None


def expect(exp: dict, repo: Repository) -> None:
    """The rows a correct mirror holds: every run, and the steps of COMPLETED runs (steps are
    read once a run is complete: flavours/cloud/pipelines.py)."""
    rid = repo.uuid
    for run in repo.pipelines:
        key = f"{rid}/pipeline/{run.uuid}"
        pr = f"{rid}/pr/{run.pullrequest_id}" if run.pullrequest_id is not None else None
        exp["pipelines"][key] = (
            run.build_number,
            run.state,
            run.result,
            run.commit,
            pr,
            run.trigger,
            run.creator_uuid,
            run.build_seconds_used,
            _utc(run.created_on),
            _utc(run.completed_on),
        )
        if run.state != "COMPLETED":
            continue
        for step in run.steps:
            exp["pipeline_steps"][f"{rid}/pipeline-step/{step.uuid}"] = (
                key,
                step.name,
                step.state,
                step.result,
                _utc(step.started_on),
                _utc(step.completed_on),
            )
