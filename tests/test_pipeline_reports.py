"""Reports 170 (pipeline success) and 171 (flaky pipelines): every number they show equals the
one computed here from the simulator's world objects, never from the database."""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from types import SimpleNamespace

import pytest
from reportrun import report, ts

from bbmirror.engine import Options
from bbmirror.reports import load_metadata
from bbmirror.simulator.cloud.mutate import random_activity

QUERIES = load_metadata()["databases"]["bitbucket"]["queries"]
FAILED = {"FAILED", "ERROR"}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, mirrored):
    """The session's small Cloud mirror, copied, after activity (runs start and finish)."""
    db = str(tmp_path_factory.mktemp("pipeline-reports") / "bitbucket.db")
    harness = mirrored("cloud", "small").copy(db)
    random_activity(harness.world, 60, random.Random(47))
    harness.sync_equal(Options(reconcile=True))
    return SimpleNamespace(world=harness.world, db=db)


def seconds(start: str, end: str) -> int:
    """Whole seconds, as the API's duration_in_seconds."""
    return int((ts(end) - ts(start)).total_seconds())


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def completed(world):
    for repo in world.repositories.values():
        for run in repo.pipelines:
            if run.state == "COMPLETED":
                yield repo, run


def approx(value: float) -> object:
    return pytest.approx(value, abs=0.011)


@pytest.mark.parametrize("filtered", [False, True])
def test_success_rate_durations_and_minutes_per_branch_and_month(mirror, filtered):
    world = mirror.world
    groups: dict[tuple, list] = defaultdict(list)
    for repo, run in completed(world):
        groups[repo.full_name, run.ref_name, ts(run.created_on).strftime("%Y-%m")].append(run)
    params = {}
    if filtered:
        busiest = max(groups, key=lambda k: len(groups[k]))
        params = {"repository": busiest[0], "branch": busiest[1]}
        groups = {k: v for k, v in groups.items() if k[:2] == busiest[:2]}
    rows = report(mirror.db, "pipeline_success", **params)
    assert {(r["repository"], r["branch"], r["month"]) for r in rows} == set(groups)
    assert sum(r["runs"] for r in rows) == sum(len(v) for v in groups.values()) > 10
    for row in rows:
        runs = groups[row["repository"], row["branch"], row["month"]]
        minutes = [seconds(r.created_on, r.completed_on) / 60 for r in runs]
        ok = sum(r.result == "SUCCESSFUL" for r in runs)
        assert row["runs"] == len(runs)
        assert row["success_rate"] == pytest.approx(round(100 * ok / len(runs), 1), abs=0.051)
        assert row["median_minutes"] == approx(statistics.median(minutes))
        assert row["p90_minutes"] == approx(p90(minutes))
        assert row["build_minutes"] == approx(sum(r.build_seconds_used for r in runs) / 60)
    assert any(r["success_rate"] < 100 for r in rows)


def test_flaky_commits_failed_then_passed_on_the_same_target(mirror):
    world = mirror.world
    want = {}
    groups: dict[tuple, list] = defaultdict(list)
    for repo, run in completed(world):
        groups[repo.full_name, run.commit, run.pullrequest_id].append(run)
    for (name, sha, pr), runs in groups.items():
        runs.sort(key=lambda r: r.build_number)
        fails = [r for r in runs if r.result in FAILED]
        if not fails:
            continue
        passes = [
            r for r in runs if r.result == "SUCCESSFUL" and r.build_number > fails[0].build_number
        ]
        if not passes:
            continue
        first, green = fails[0], passes[0]
        want[name, sha, pr] = {
            "runs": len(runs),
            "failures": sum(r.build_number < green.build_number for r in fails),
            "failed_build": first.build_number,
            "passed_build": green.build_number,
            "hours_to_green": round(
                (ts(green.completed_on) - ts(first.created_on)).total_seconds() / 3600, 2
            ),
            "branch": first.ref_name,
        }
    assert want  # the world has flaky commits, or this test proves nothing
    rows = report(mirror.db, "flaky_pipelines")
    repos = {r.full_name: r for r in world.repositories.values()}
    have = {}
    for row in rows:
        pr = row["pullrequest"]
        have[row["repository"], row["commit_hash"], pr] = {
            k: row[k] for k in ("runs", "failures", "failed_build", "passed_build", "branch")
        } | {"hours_to_green": row["hours_to_green"]}
        if pr is not None:
            assert pr in repos[row["repository"]].pullrequests
    assert set(have) == set(want)
    for key, values in want.items():
        got = have[key]
        assert {k: got[k] for k in values if k != "hours_to_green"} == {
            k: v for k, v in values.items() if k != "hours_to_green"
        }
        assert got["hours_to_green"] == approx(values["hours_to_green"])
    since = min(ts(r["first_failure_on"]) for r in rows).date().isoformat()
    assert len(report(mirror.db, "flaky_pipelines", since=since, until=since)) >= 1
