"""TEST DATA, not Bitbucket's: delivery rows made up from a mirrored world's commits and PRs.

The simulator does not serve pipelines, deployments, pull-request files or tasks on this branch
yet, so the Delivery dashboard's tests fill the schema-9 tables of a mirrored Cloud world with
rows derived deterministically from the world (every draw comes from
``random.Random(f"{repository uuid}:delivery-testdata")``): pipelines for each PR's source
commit and each merge commit, test and production deployments of merge commits (some failed or
rolled back, some still running), diff sizes spread over every size bucket, and tasks opened,
resolved (some after the merge) or left open. Every id starts with ``testdata/``.

``fill`` writes a group of tables only when the database holds none of its rows, so once the
simulator serves a resource its own rows are used instead; the tests compute what the charts
must show from whatever rows the tables then hold (``delivery_expect``).
"""

from __future__ import annotations

import functools
import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta

from bbmirror.simulator.cloud.world import PullRequest, Repository, World
from bbmirror.store import Store

SOURCE = "cloud"
GROUPS: tuple[tuple[str, ...], ...] = (
    ("environments", "deployments"),
    ("pipelines", "pipeline_steps"),
    ("pullrequest_files",),
    ("pullrequest_tasks",),
)
SIZES = ((1, 9), (10, 49), (50, 249), (250, 999), (1000, 4000))  # one range per size bucket
RESULTS = (("SUCCESSFUL", 0.7), ("FAILED", 0.12), ("ROLLED_BACK", 0.12), ("STOPPED", 0.03))
PIPELINE_RESULTS = (("SUCCESSFUL", 0.75), ("FAILED", 0.15), ("ERROR", 0.04), ("STOPPED", 0.06))


@functools.cache  # the expectations parse the same timestamps many times
def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def stamp(moment: datetime) -> str:
    """The store's timestamp form: ISO-8601 UTC with microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def merged_on(pr: PullRequest) -> str | None:
    """When the PR was merged: its first activity update into MERGED."""
    if pr.state != "MERGED":
        return None
    dates = [a.date for a in pr.activity if a.kind == "update" and a.data.get("state") == "MERGED"]
    return min(dates, key=utc) if dates else None


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str | None:
    """A weighted choice; None (not finished yet) for the probability left over."""
    draw = rng.random()
    for value, weight in weighted:
        if draw < weight:
            return value
        draw -= weight
    return None


def _row(key: str, repo: Repository, **columns: object) -> dict:
    return {
        "id": f"testdata/{key}",
        "source": SOURCE,
        "repository_id": repo.uuid,
        "json": json.dumps({"testdata": True}),
        **columns,
    }


def _deployment(
    repo: Repository,
    env: dict,
    pr: PullRequest,
    attempt: int,
    started: datetime,
    result: str | None,
    done: datetime,
) -> dict:
    """One deployment of the PR's merge commit; no result means it is still running."""
    kind = env["type"]
    return _row(
        f"{repo.uuid}/deploy/{kind}/{pr.id}/{attempt}",
        repo,
        environment_id=env["id"],
        uuid=f"{{deploy-{kind}-{pr.id}-{attempt}}}",
        state="COMPLETED" if result else "IN_PROGRESS",
        result=result,
        commit_hash=pr.merge_commit,
        commit_id=f"{repo.uuid}/{pr.merge_commit}",
        release_name=f"release-{pr.id}",
        release_created_on=stamp(started),
        deployer_id=pr.closed_by_uuid,
        started_on=stamp(started),
        completed_on=stamp(done) if result else None,
        updated_on=stamp(done if result else started),
    )


def deployments(repo: Repository, index: int, rng: random.Random) -> dict[str, list[dict]]:
    """Environments and deployments of merge commits; the fourth repository has no production."""
    kinds = ("test", "production") if index % 4 != 3 else ("test", "staging")
    envs = {
        kind: _row(f"{repo.uuid}/env/{kind}", repo, name=kind.title(), type=kind) for kind in kinds
    }
    for rank, env in enumerate(envs.values()):
        env.update(uuid=f"{{env-{rank}}}", key=env["name"].lower(), rank=rank)
    rows: list[dict] = []
    merged = sorted((merged_on(pr), pr) for pr in repo.pullrequests.values() if merged_on(pr))
    for when, pr in merged:
        for kind, delay, chance in ((kinds[0], (0.05, 2), 0.9), (kinds[1], (0.2, 48), 0.8)):
            if rng.random() >= chance:
                continue
            started = utc(when) + timedelta(hours=rng.uniform(*delay))
            for attempt in range(4):  # a failure is often retried soon, a success redeployed
                result = pick(rng, RESULTS)
                done = started + timedelta(minutes=rng.uniform(2, 30))
                rows.append(_deployment(repo, envs[kind], pr, attempt, started, result, done))
                again = (0.7, (0.5, 6)) if result in ("FAILED", "ROLLED_BACK") else (0.35, (1, 40))
                if not result or rng.random() >= again[0]:
                    break
                started = done + timedelta(hours=rng.uniform(*again[1]))
    for env in envs.values():  # sequence numbers in start order, per environment
        mine = sorted(
            (r for r in rows if r["environment_id"] == env["id"]), key=lambda r: r["started_on"]
        )
        for number, row in enumerate(mine, 1):
            row["sequence"] = number
    return {"environments": list(envs.values()), "deployments": rows}


def pipelines(repo: Repository, rng: random.Random) -> dict[str, list[dict]]:
    """A pipeline per PR source commit and per merge commit, with one to three steps."""
    runs: list[tuple[datetime, PullRequest, str, str]] = []
    for pr in repo.pullrequests.values():
        runs.append(
            (utc(pr.created_on) + timedelta(minutes=rng.uniform(1, 10)), pr, "pr", pr.source_commit)
        )
        if merged_on(pr) and pr.merge_commit:
            runs.append((utc(merged_on(pr)) + timedelta(minutes=1), pr, "merge", pr.merge_commit))
    rows: list[dict] = []
    steps: list[dict] = []
    for number, (created, pr, kind, commit) in enumerate(sorted(runs, key=lambda r: r[0]), 1):
        result = pick(rng, PIPELINE_RESULTS) if pr.state != "OPEN" or rng.random() < 0.7 else None
        seconds = rng.randint(60, 1500)
        done = created + timedelta(seconds=seconds)
        key = f"{repo.uuid}/pipeline/{number}"
        rows.append(
            _row(
                key,
                repo,
                uuid=f"{{pipeline-{number}}}",
                build_number=number,
                state="COMPLETED" if result else "IN_PROGRESS",
                result=result,
                target_type="pullrequest" if kind == "pr" else "branch",
                ref_type="branch",
                ref_name=pr.source_branch if kind == "pr" else pr.destination_branch,
                commit_hash=commit,
                commit_id=f"{repo.uuid}/{commit}",
                pullrequest_id=f"{repo.uuid}/pr/{pr.id}" if kind == "pr" else None,
                trigger="PUSH",
                creator_id=pr.author_uuid,
                build_seconds_used=seconds if result else seconds // 2,
                created_on=stamp(created),
                completed_on=stamp(done) if result else None,
                duration_seconds=seconds if result else None,
            )
        )
        for step, name in enumerate(("build", "test", "deploy")[: rng.randint(1, 3)]):
            steps.append(
                _row(
                    f"{key}/step/{step}",
                    repo,
                    pipeline_id=f"testdata/{key}",
                    uuid=f"{{step-{number}-{step}}}",
                    name=name,
                    state="COMPLETED" if result else "IN_PROGRESS",
                    result=result,
                    started_on=stamp(created),
                )
            )
    return {"pipelines": rows, "pipeline_steps": steps}


def files(repo: Repository, rng: random.Random) -> dict[str, list[dict]]:
    """Nine PRs in ten get a diffstat whose total falls in a drawn size bucket."""
    rows: list[dict] = []
    for pr in repo.pullrequests.values():
        if rng.random() >= 0.9:
            continue
        total = rng.randint(*rng.choices(SIZES, weights=(25, 30, 25, 14, 6))[0])
        cuts = sorted(rng.sample(range(1, total), min(rng.randint(1, 8), total) - 1))
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        for n, lines in enumerate(parts):
            added = rng.randint(0, lines)
            rows.append(
                _row(
                    f"{repo.uuid}/pr/{pr.id}/file/{n}",
                    repo,
                    pullrequest_id=f"{repo.uuid}/pr/{pr.id}",
                    source_commit=pr.source_commit,
                    path=f"src/module_{n}.py",
                    status="added" if added == lines else "modified",
                    lines_added=added,
                    lines_removed=lines - added,
                )
            )
    return {"pullrequest_files": rows}


def tasks(repo: Repository, rng: random.Random) -> dict[str, list[dict]]:
    """A third of the PRs get tasks: resolved before or after the merge, or never."""
    rows: list[dict] = []
    for pr in repo.pullrequests.values():
        if rng.random() >= 0.35:
            continue
        end = utc(merged_on(pr) or pr.updated_on)
        span = max((end - utc(pr.created_on)).total_seconds() / 3600, 0.1)
        for n in range(rng.randint(1, 3)):
            created = utc(pr.created_on) + timedelta(hours=rng.uniform(0, span * 1.1))
            resolved = (
                created + timedelta(hours=rng.uniform(0.1, span)) if rng.random() < 0.6 else None
            )
            rows.append(
                _row(
                    f"{repo.uuid}/pr/{pr.id}/task/{n}",
                    repo,
                    pullrequest_id=f"{repo.uuid}/pr/{pr.id}",
                    task_id=pr.id * 10 + n,
                    content=f"test-data task {n}",
                    state="RESOLVED" if resolved else "UNRESOLVED",
                    creator_id=pr.author_uuid,
                    resolved_by_id=pr.author_uuid if resolved else None,
                    created_on=stamp(created),
                    updated_on=stamp(resolved or created),
                    resolved_on=stamp(resolved) if resolved else None,
                )
            )
    return {"pullrequest_tasks": rows}


def rows(world: World) -> dict[str, list[dict]]:
    """Every test-data row for the world, by table (the same world always gives the same rows)."""
    made: dict[str, list[dict]] = {table: [] for group in GROUPS for table in group}
    repos = sorted(world.repositories.values(), key=lambda r: r.full_name)
    for index, repo in enumerate(repos):
        rng = random.Random(f"{repo.uuid}:delivery-testdata")
        for part in (
            deployments(repo, index, rng),
            pipelines(repo, rng),
            files(repo, rng),
            tasks(repo, rng),
        ):
            for table, new in part.items():
                made[table] += new
    return made


def fill(db: str, world: World) -> dict[str, int]:
    """Write the test rows of each table group the database has no rows of; rows written."""
    conn = sqlite3.connect(db)
    try:
        empty = [
            g
            for g in GROUPS
            if not any(conn.execute(f"SELECT 1 FROM [{t}] LIMIT 1").fetchone() for t in g)
        ]
    finally:
        conn.close()
    made = rows(world)
    chosen = {table: made[table] for group in empty for table in group}
    with Store.open(db) as store:
        for table in (t for g in GROUPS for t in g if t in chosen):  # parents first
            store.write({table: chosen[table]})
    return {table: len(new) for table, new in chosen.items()}
