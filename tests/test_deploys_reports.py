"""The four DORA reports (160-163): every figure recomputed from the simulator's world objects.

A small Cloud mirror is copied, the world moves on (deployments start, progress, complete) and is
synced again; each report runs with its file's SQL and is compared with Python's own count from
``repo.deploys`` and ``repo.commits`` (never from the database).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from reportrun import report, ts

from bbmirror.reports import load_metadata
from bbmirror.simulator.cloud import deploys
from bbmirror.simulator.cloud.deploy_model import Deployment
from bbmirror.simulator.cloud.deploys import is_fix

QUERIES = load_metadata()["databases"]["bitbucket"]["queries"]
OK = ("SUCCESSFUL", "FAILED")


@pytest.fixture
def mirror(dora_mirror):
    return dora_mirror


def _deploy(repo, uuid: str, like, sha: str, status: str, start: datetime) -> None:
    at = start.isoformat(timespec="microseconds")
    end = (start + timedelta(minutes=9)).isoformat(timespec="microseconds")
    repo.deploys.deployments.append(
        Deployment(uuid, like.environment_uuid, uuid, f"#{uuid[1:4]}", sha, at, "COMPLETED",
                   status, like.deployer_uuid, at, end)
    )  # fmt: skip


def fix_forward(world) -> None:
    """After the latest production deployment of a repository: a fix release (its commit says
    Fix…) 30 minutes later, then two failed deployments in a row and a rollback to the fix. The
    generated history rarely has either (reports 162 and 163)."""
    repo = next(r for r in world.repositories.values() if production(r))
    last = production(repo)[-1]
    deployed = {x.commit for x in repo.deploys.deployments}
    line = [h for h in reversed(deploys.first_parents(repo)) if h not in deployed]
    fix = next(h for h in line if is_fix(repo.commits[h].message))
    other = next(h for h in line if h != fix)
    start = ts(last.completion_date)
    _deploy(repo, "{fix-1}", last, fix, "SUCCESSFUL", start + timedelta(minutes=30))
    _deploy(repo, "{bad-1}", last, other, "FAILED", start + timedelta(hours=30))
    _deploy(repo, "{bad-2}", last, other, "FAILED", start + timedelta(hours=31))
    _deploy(repo, "{fix-2}", last, fix, "SUCCESSFUL", start + timedelta(hours=33))


def month(value: str) -> str:
    return ts(value).strftime("%Y-%m")


def hours(start: str, end: str) -> float:
    return (ts(end) - ts(start)).total_seconds() / 3600


def p90(values: list[float]) -> float:
    return sorted(values)[math.ceil(0.9 * len(values)) - 1]


def production(repo, results=OK) -> list:
    """The repository's completed production deployments with one of ``results``, by completion."""
    prod = {e.uuid for e in repo.deploys.environments if e.kind == "Production"}
    done = [
        x
        for x in repo.deploys.deployments
        if x.environment_uuid in prod and x.state == "COMPLETED" and x.status in results
    ]
    return sorted(done, key=lambda x: ts(x.completion_date))


def ancestry(repo, sha: str) -> set[str]:
    seen: set[str] = set()
    stack = [sha]
    while stack:
        h = stack.pop()
        if h not in seen and h in repo.commits:
            seen.add(h)
            stack.extend(repo.commits[h].parents)
    return seen


def rounded(rows: list[dict], *cols: str) -> dict:
    return {
        (r["repository"], r["month"]): tuple(
            round(r[c], 2) if isinstance(r[c], float) else r[c] for c in cols
        )
        for r in rows
    }


def test_the_world_has_dora_numbers_to_show(mirror):
    prod = [x for r in mirror.world.repositories.values() for x in production(r)]
    assert {x.status for x in prod} == set(OK)
    assert any(x.uuid == "{fix-1}" for x in prod)  # a fix release to find in 162
    assert report(mirror.db, "dora_change_failure_rate")
    assert any(r["failures"] for r in report(mirror.db, "dora_change_failure_rate"))
    assert any(r["restored"] for r in report(mirror.db, "dora_time_to_restore"))


@pytest.mark.parametrize("since, until", [("", ""), ("2025-06-01", "2025-10-31")])
def test_deployment_frequency_equals_the_world(mirror, since, until):
    want: dict = defaultdict(list)
    for repo in mirror.world.repositories.values():
        for x in production(repo, ("SUCCESSFUL",)):
            day = ts(x.completion_date).date().isoformat()
            if (not since or day >= since) and (not until or day <= until):
                want[repo.full_name, month(x.completion_date)].append(x)
    expected = {
        key: (len(xs), len({ts(x.completion_date).date() for x in xs}), len({x.commit for x in xs}))
        for key, xs in want.items()
    }
    rows = report(mirror.db, "dora_deployment_frequency", since=since, until=until)
    assert rounded(rows, "deployments", "days_with_deployments", "releases") == expected
    assert expected


def lead_time_changes(repo) -> list[tuple[str, float]]:
    """(shipped on, hours) of every change a production deployment shipped (report 161)."""
    good = production(repo, ("SUCCESSFUL",))
    if not good:
        return []
    first_ship: dict[str, str] = {}
    for x in good:  # by completion: the first deployment reaching a commit ships it
        for sha in ancestry(repo, x.commit):
            first_ship.setdefault(sha, x.completion_date)
    first = good[0].completion_date
    return [
        (shipped, hours(repo.commits[sha].date, shipped))
        for sha, shipped in first_ship.items()
        if ts(shipped) > ts(first)
    ]


def test_lead_time_equals_the_world(mirror):
    want: dict = defaultdict(list)
    ships: dict = defaultdict(set)
    for repo in mirror.world.repositories.values():
        for shipped, lead in lead_time_changes(repo):
            key = (repo.full_name, month(shipped))
            want[key].append(lead)
            ships[key].add(shipped)
    expected = {
        key: (len(ships[key]), len(v), statistics.median(v), p90(v)) for key, v in want.items()
    }
    rows = report(mirror.db, "dora_lead_time")
    got = rounded(rows, "deployments", "changes", "median_hours", "p90_hours")
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key][:2] == value[:2], key
        assert got[key][2:] == pytest.approx(value[2:], abs=0.006), key


def judged(repo, span: timedelta) -> list[tuple[str, bool]]:
    """(completed on, failed) of every counted production deployment (report 162)."""
    prod = production(repo)

    def rollback(p) -> bool:
        return any(
            q.commit == p.commit
            and q.status == "SUCCESSFUL"
            and q.environment_uuid == p.environment_uuid
            and ts(q.completion_date) < ts(p.start_date)
            for q in prod
        )

    out = []
    for p in prod:
        if rollback(p):
            continue
        end = ts(p.completion_date)
        remedied = any(
            n is not p
            and n.environment_uuid == p.environment_uuid
            and end < ts(n.start_date) <= end + span
            and (rollback(n) or is_fix(getattr(repo.commits.get(n.commit), "message", "")))
            for n in prod
        )
        out.append((p.completion_date, p.status == "FAILED" or remedied))
    return out


@pytest.mark.parametrize("window", ["", "2", "72"])
def test_change_failure_rate_equals_the_world(mirror, window):
    span = timedelta(hours=float(window or 24))
    want: dict = defaultdict(lambda: [0, 0])
    for repo in mirror.world.repositories.values():
        for completed_on, failed in judged(repo, span):
            key = (repo.full_name, month(completed_on))
            want[key][0] += 1
            want[key][1] += int(failed)
    expected = {k: (n, f, round(100.0 * f / n, 1)) for k, (n, f) in want.items()}
    rows = report(mirror.db, "dora_change_failure_rate", window_hours=window)
    assert rounded(rows, "deployments", "failures", "failure_rate_percent") == expected


def incidents(repo) -> list[tuple[str, float | None]]:
    """(failed on, hours to restore or None while open) of every incident (report 163)."""
    by_env: dict = defaultdict(list)
    for x in production(repo):
        by_env[x.environment_uuid].append(x)
    out = []
    for runs in by_env.values():
        for i, f in enumerate(runs):
            if f.status != "FAILED" or (i and runs[i - 1].status == "FAILED"):
                continue
            later = [s for s in runs[i + 1 :] if s.status == "SUCCESSFUL"]
            restored = hours(f.completion_date, later[0].completion_date) if later else None
            out.append((f.completion_date, restored))
    return out


def test_time_to_restore_equals_the_world(mirror):
    want: dict = defaultdict(list)
    for repo in mirror.world.repositories.values():
        for failed_on, restored in incidents(repo):
            want[repo.full_name, month(failed_on)].append(restored)
    expected = {}
    for key, values in want.items():
        done = [v for v in values if v is not None]
        median = statistics.median(done) if done else None
        top = p90(done) if done else None
        expected[key] = (len(values), len(done), len(values) - len(done), median, top)
    rows = report(mirror.db, "dora_time_to_restore")
    got = rounded(rows, "incidents", "restored", "still_open", "median_hours", "p90_hours")
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key][:3] == value[:3], key
        assert got[key][3:] == pytest.approx(value[3:], abs=0.006), key
