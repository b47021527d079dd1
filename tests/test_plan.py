"""The plans: declarations checked at import, --only checked against what runs, the economics."""

from __future__ import annotations

import sqlite3

import pytest
from dc_mirror import DcHarness
from mirror import Harness

from bbmirror.engine import Engine, Options, SyncError
from bbmirror.engine.plan import Level, Plan, PlanError, Step
from bbmirror.engine.streams import Stream
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.flavours.cloud.streams import CLOUD_STREAMS
from bbmirror.flavours.cloud.sync import CloudSync
from bbmirror.flavours.server.plan import SERVER_PLAN
from bbmirror.flavours.server.streams import SERVER_STREAMS
from bbmirror.flavours.server.sync import ServerSync
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.server.generate import generate_dc


def _stream(name: str, **kw) -> Stream:
    return Stream(name, f"x/{name}", name, lambda obj, ctx: {}, **kw)


def _plan(streams: list[Stream], steps: tuple[Step, ...]) -> Plan:
    return Plan("test", {s.name: s for s in streams}, (Level("repository", steps, list),))


def test_a_declared_stream_that_no_step_runs_is_refused():
    with pytest.raises(PlanError, match="'tags' is declared but no step runs it"):
        _plan([_stream("branches"), _stream("tags")], (Step("branches"),))


def test_an_unknown_mode_is_refused():
    with pytest.raises(PlanError, match="unknown mode 'sideways'"):
        _plan([_stream("branches", mode="sideways")], (Step("branches"),))


def test_a_step_after_no_earlier_step_is_refused():
    with pytest.raises(PlanError, match="'commits' runs after 'tags'"):
        _plan(
            [_stream("commits"), _stream("tags")], (Step("commits", after=("tags",)), Step("tags"))
        )


def test_children_are_run_by_their_parents_step():
    plan = _plan([_stream("prs", children=("comments",)), _stream("comments")], (Step("prs"),))
    assert plan.runs() == {"prs", "comments"}


def test_every_declared_stream_of_both_flavours_is_run():
    assert CLOUD_PLAN.runs() == set(CLOUD_STREAMS)
    assert SERVER_PLAN.runs() == set(SERVER_STREAMS)


def test_only_naming_a_stream_the_server_plan_never_runs_fails_before_any_request(tmp_path):
    harness = DcHarness(generate_dc(2, "tiny"), str(tmp_path / "m.db"))
    with pytest.raises(SyncError, match="--only 'issues': no step of the server plan runs it"):
        harness.sync(Options(only=frozenset({"issues"})))
    assert harness.log == []


def test_only_naming_a_stream_the_plan_runs_is_accepted(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    summary = harness.sync(Options(only=frozenset({"issues"})))
    assert summary.outcome == "ok"
    assert sqlite3.connect(harness.db).execute("select count(*) from issues").fetchone()[0]


def test_the_cloud_minimum_is_below_a_full_sync_and_the_no_op_below_it(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    full = harness.sync()
    least = CLOUD_PLAN.minimum_requests(harness.world)
    assert CLOUD_PLAN.no_op_requests(harness.world) < least <= full.requests


def test_the_server_plan_declares_no_minimum_and_says_so():
    with pytest.raises(PlanError, match="declares no minimum"):
        SERVER_PLAN.minimum_requests(generate_dc(2, "tiny"))


def test_each_flavour_engine_has_a_walker_for_every_mode_its_plan_uses():
    assert CLOUD_PLAN.missing_walkers(CloudSync) == []
    assert SERVER_PLAN.missing_walkers(ServerSync) == []
    assert CLOUD_PLAN.missing_walkers(Engine) == ["feed", "heads", "incremental"]
    assert SERVER_PLAN.missing_walkers(Engine) == ["newest", "ranges"]
