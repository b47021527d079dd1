"""One runner runs any plan: the plan's steps, order and conditions decide what is requested."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest
from dc_mirror import DcHarness
from dc_mirror import differences as dc_differences
from mirror import Harness, differences

from bbmirror.engine import Options
from bbmirror.engine.plan import Level, Plan, PlanError, Step
from bbmirror.engine.runner import Runner
from bbmirror.engine.streams import Stream
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.flavours.cloud.sync import CloudSync
from bbmirror.flavours.server.plan import SERVER_PLAN
from bbmirror.flavours.server.sync import ServerSync
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.server.generate import generate_dc


def _with_level(plan: Plan, name: str, steps: tuple[Step, ...]) -> Plan:
    levels = tuple(replace(lv, steps=steps) if lv.name == name else lv for lv in plan.levels)
    return replace(plan, levels=levels)


def _steps(plan: Plan, level: str) -> tuple[Step, ...]:
    return next(lv.steps for lv in plan.levels if lv.name == level)


def test_an_engine_lacking_a_hook_its_plan_names_fails_at_import():
    streams = {"x": Stream("x", "x", "x", lambda obj, ctx: {})}
    plan = Plan("test", streams, (Level("repository", (Step("x", hook="read_x"),), list),))
    with pytest.raises(PlanError, match="has no 'read_x'"):
        type("Engine", (Runner,), {"plan": plan})


def test_both_flavour_engines_have_every_hook_their_plans_name():
    assert CLOUD_PLAN.missing_hooks(CloudSync) == []
    assert SERVER_PLAN.missing_hooks(ServerSync) == []
    assert "workspace_object" in CLOUD_PLAN.missing_hooks(Runner)


def test_a_step_whose_condition_is_false_sends_no_request(tmp_path, monkeypatch):
    never = lambda engine, unit: False  # noqa: E731
    steps = tuple(
        replace(s, holds=never) if s.stream == "default_reviewers" else s
        for s in _steps(CLOUD_PLAN, "repository lists")
    )
    monkeypatch.setattr(CloudSync, "plan", _with_level(CLOUD_PLAN, "repository lists", steps))
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    summary = harness.sync()
    assert summary.outcome == "ok"
    assert not [r for r in harness.log if r.path.endswith("/default-reviewers")]
    assert any(r.path.endswith("/pullrequests") for r in harness.log)
    assert any(repo.default_reviewers for repo in harness.world.repositories.values())
    tables = {problem.split(":")[0] for problem in differences(harness.world, harness.db)}
    assert tables == {"default_reviewers"}  # only what the skipped step reads is missing


def test_the_runner_reads_the_steps_in_the_plans_order(tmp_path, monkeypatch):
    steps = _steps(SERVER_PLAN, "repository lists")
    labels = next(s for s in steps if s.stream == "labels")
    moved = (*(s for s in steps if s.stream != "labels"), labels)  # labels last
    monkeypatch.setattr(ServerSync, "plan", _with_level(SERVER_PLAN, "repository lists", moved))
    harness = DcHarness(generate_dc(2, "tiny"), str(tmp_path / "m.db"), {})
    assert harness.sync(concurrency=1).outcome == "ok"
    paths = [r.path for r in harness.log]
    for repo in harness.world.repositories.values():
        mine = [p for p in paths if f"/repos/{repo.slug}/" in p]
        last_pr = max(i for i, p in enumerate(mine) if p.endswith("/pull-requests"))
        assert mine.index(next(p for p in mine if p.endswith("/labels"))) > last_pr
    assert dc_differences(harness.world, harness.db) == []


def test_every_repository_level_request_follows_every_discovery_request(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    paths = [r.path for r in harness.log]
    repo_level = [i for i, p in enumerate(paths) if p.count("/") > 4]  # /2.0/repositories/w/r/x
    listing = [i for i, p in enumerate(paths) if p.count("/") == 3 and "/repositories/" in p]
    assert listing and repo_level and max(listing) < min(repo_level)


CHILD = re.compile(r"/2\.0/repositories/([^/]+/[^/]+)/(pullrequests|issues)/(\d+)/\w+")
LIST = re.compile(r"/2\.0/repositories/[^/]+/[^/]+/(pullrequests|issues)")


def test_every_pull_request_and_issue_list_is_read_before_any_child(mirrored):
    """Issue 14's first hour: the lists of every repository first, then the children."""
    shared = mirrored("cloud")  # the session's first full sync of a small world: its log
    world, harness = shared.harness.world, shared.harness
    assert len(world.repositories) > 1
    assert shared.summary.outcome == "ok"
    paths = [r.path for r in harness.log]
    lists = [i for i, p in enumerate(paths) if LIST.fullmatch(p)]
    children = [i for i, p in enumerate(paths) if CHILD.fullmatch(p)]
    assert lists and children and max(lists) < min(children)
    assert differences(world, harness.db) == []


@pytest.mark.parametrize("size", ["tiny", pytest.param("small", marks=pytest.mark.slow)])
def test_children_are_read_open_and_recently_updated_parents_first(tmp_path, size):
    """One full sync, one request at a time: tiny in the fast lane, small in the full run."""
    world = generate(3, size)
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync(concurrency=1).outcome == "ok"
    order: dict[str, list[int]] = {}
    for record in harness.log:
        found = CHILD.fullmatch(record.path)
        if found and found.group(2) == "pullrequests":
            numbers = order.setdefault(found.group(1), [])
            if int(found.group(3)) not in numbers:
                numbers.append(int(found.group(3)))
    assert order
    for repo in world.repositories.values():
        prs = repo.pullrequests
        numbers = order.get(f"{repo.workspace}/{repo.slug}", [])
        assert sorted(numbers) == sorted(prs)  # a first sync reads every PR's children
        keys = [
            (prs[n].state != "OPEN", -datetime.fromisoformat(prs[n].updated_on).timestamp())
            for n in numbers
        ]
        assert keys == sorted(keys)


DC_CHILD = re.compile(r".*/repos/([^/]+)/pull-requests/(\d+)/(activities|commits)")


def test_dc_lists_come_first_and_a_reconcile_reads_each_pull_requests_children_once(tmp_path):
    """Data Center too: every pull-request list before any child. ``--reconcile`` lists open
    pull requests twice (the whole list, then the open list); their children are queued once
    and read once (they were read twice when read at once)."""
    harness = DcHarness(generate_dc(3, "tiny"), str(tmp_path / "m.db"), {})
    assert harness.sync().outcome == "ok"
    paths = [r.path for r in harness.log]
    lists = [i for i, p in enumerate(paths) if p.endswith("/pull-requests")]
    children = [i for i, p in enumerate(paths) if DC_CHILD.fullmatch(p)]
    assert lists and children and max(lists) < min(children)
    harness.log.clear()
    assert harness.sync(Options(reconcile=True)).outcome == "ok"
    reads = [m.groups() for r in harness.log if (m := DC_CHILD.fullmatch(r.path))]
    repos = harness.world.repositories.values()
    assert any(pr.state == "OPEN" for repo in repos for pr in repo.pull_requests.values())
    assert reads and len(reads) == len(set(reads))
    assert dc_differences(harness.world, harness.db) == []
