"""Leaving costly streams out: ``--skip`` and config ``skip`` (issues 14/15).

A skipped stream is refused when no plan step runs it, is not read (the harness's request log
says so), leaves its table's rows as they were, and the run says so while staying ok.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from dc_mirror import SOURCE as DC_SOURCE
from mirror import SOURCE, Harness
from test_cloud_pr_feed import _without_trackers

from bbmirror.cli import cli
from bbmirror.config import ConfigError, load_config
from bbmirror.engine import Options
from bbmirror.engine.plan import PlanError
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.flavours.cloud.streams import CLOUD_STREAMS
from bbmirror.flavours.server.plan import SERVER_PLAN
from bbmirror.simulator.cloud.diffstat import pr_changes
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.mutate import push_commits
from bbmirror.simulator.server import mutate_code
from bbmirror.status import collect, render

SKIP = Options(skip=frozenset({"pr_diffstat"}))
SAID = "skipped by configuration: pr_diffstat"


def _config(tmp_path: Path, lines: str, kind: str = "cloud") -> Path:
    url = 'base_url = "https://bitbucket.example.com"\n' if kind == "server" else ""
    path = tmp_path / "bbmirror.toml"
    path.write_text(f'[[source]]\nname = "acme"\nkind = "{kind}"\n{url}{lines}\n')
    return path


def _files(db: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select * from pullrequest_files order by id").fetchall()
    finally:
        conn.close()


def _asked(log, pattern: str) -> list[str]:
    return [e.path for e in log if re.search(pattern, e.path)]


# -- validation -------------------------------------------------------------------------------


def test_the_config_key_is_read_per_source(tmp_path, monkeypatch):
    monkeypatch.setenv("BITBUCKET_TOKEN", "t")
    (source,) = load_config(_config(tmp_path, 'skip = ["pr_diffstat", "pipelines"]'))
    assert source.skip == ["pr_diffstat", "pipelines"]
    (server,) = load_config(_config(tmp_path, 'skip = ["pr_diff"]', "server"))
    assert server.skip == ["pr_diff"]


@pytest.mark.parametrize(
    ("lines", "kind", "said"),
    [
        ('skip = ["pr_diff"]', "cloud", "skip 'pr_diff': no step of the cloud plan runs it"),
        ('skip = ["pr_diffstat"]', "server", "skip 'pr_diffstat': no step of the server plan"),
        ('skip = ["nope"]', "cloud", "skip 'nope': no step of the cloud plan runs it"),
        ('skip = ["branches"]', "cloud", "skip 'branches': commits needs it; skip commits too"),
        ('skip = ["tags"]', "server", "skip 'tags': commits needs it; skip commits too"),
        ('skip = ["environments"]', "cloud", "deployments needs it"),
        ('skip = ["repositories"]', "cloud", "skip 'repositories': every run needs it"),
        ('skip = "pr_diffstat"', "cloud", "skip must be a list of strings"),
    ],
)
def test_a_bad_config_skip_is_one_clear_line(tmp_path, monkeypatch, lines, kind, said):
    monkeypatch.setenv("BITBUCKET_TOKEN", "t")
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, lines, kind))
    message = str(raised.value)
    assert said in message and "\n" not in message
    assert message.startswith(f"config file {tmp_path / 'bbmirror.toml'}, source #1: ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--skip", "nope"], "unknown stream 'nope' in --skip; known: "),
        (["--skip", "pr_diff"], "--skip 'pr_diff': no step of the cloud plan runs it"),
        (["--skip", "branches"], "--skip 'branches': commits needs it; skip commits too"),
        (["--skip", "workspaces"], "--skip 'workspaces': every run needs it (discovery)"),
        (["--skip", "pr_diffstat", "--only", "pr_diffstat"], "leaves nothing of --only"),
        (["--skip", "pullrequests", "--only", "pr_comments"], "leaves nothing of --only"),
    ],
)
def test_a_bad_skip_on_the_command_line_fails_before_any_request(tmp_path, args, said):
    db = tmp_path / "mirror.db"
    for command in (["sync", str(db)], ["schedule", str(db)]):
        result = CliRunner().invoke(
            cli,
            [*command, "--base-url", "http://127.0.0.1:9/2.0", "--workspace", "w", *args],
            env={"BITBUCKET_TOKEN": "t"},
        )
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and said in lines[0], result.output
    assert not db.exists()


def test_the_help_says_which_children_go_with_their_parent():
    text = CliRunner().invoke(cli, ["sync", "--help"]).output
    assert "--skip" in text and "pipeline_steps" in text and "pr_feed" in text


def test_skipping_a_parent_skips_its_children():
    pr_children = CLOUD_STREAMS["pullrequests"].children
    assert len(pr_children) == 6 and "pr_diffstat" in pr_children
    assert CLOUD_PLAN.check_skip(["pullrequests"]) == {
        "pullrequests",
        *pr_children,
        "pr_feed",  # it writes pull request activity and comments
    }
    assert CLOUD_PLAN.check_skip(["pipelines"]) == {"pipelines", "pipeline_steps"}
    assert CLOUD_PLAN.check_skip(["issues"]) >= {"issue_comments", "issue_changes"}
    assert "pr_comments" not in CLOUD_PLAN.check_skip(["issue_comments"])  # same table only
    assert CLOUD_PLAN.check_skip(["pr_diffstat"]) == {"pr_diffstat"}
    assert SERVER_PLAN.check_skip(["pullrequests"]) >= {"pr_activity", "pr_diff", "pr_jira"}
    assert SERVER_PLAN.check_skip(["commits"]) == {"commits", "statuses"}
    with pytest.raises(PlanError, match="tags needs it"):
        CLOUD_PLAN.check_skip(["branches", "commits"])


def test_the_plan_economics_take_the_skipped_stream_off():
    world = generate(4, "tiny")
    prs = [(r, p) for r in world.repositories.values() for p in r.pullrequests.values()]
    diffstats = sum(max(1, -(-len(pr_changes(r, p)) // 500)) for r, p in prs)
    least = CLOUD_PLAN.minimum_requests(world)
    assert CLOUD_PLAN.minimum_requests(world, ["pr_diffstat"]) == least - diffstats
    assert diffstats >= len(prs) > 0
    pipelines = CLOUD_PLAN.minimum_requests(world, ["pipelines"])
    assert pipelines < least and CLOUD_PLAN.no_op_requests(world, ["pipelines"]) <= (
        CLOUD_PLAN.no_op_requests(world)
    )


# -- syncs ------------------------------------------------------------------------------------


def test_a_first_sync_with_skip_reads_no_diffstat_and_costs_what_the_plan_says(tmp_path):
    world = _without_trackers(generate(4, "tiny"))
    harness = Harness(world, str(tmp_path / "m.db"))
    summary = harness.sync(SKIP)
    assert (summary.outcome, summary.errors) == ("ok", 0)
    assert _asked(harness.log, "diffstat") == []
    assert summary.requests == len(harness.log)
    assert summary.requests == CLOUD_PLAN.minimum_requests(world, ["pr_diffstat"])
    assert _files(harness.db) == []
    assert summary.line().endswith(f"({SAID})")
    problems = harness.oracle(world, harness.db)
    assert problems and all(p.startswith("pullrequest_files:") for p in problems)
    # Without the skip, the next run backfills every PR's diffstat: equal to the world.
    before = len(harness.log)
    harness.sync_equal()
    assert len(_asked(harness.log[before:], "diffstat")) >= sum(
        len(r.pullrequests) for r in world.repositories.values()
    )


# Each flavour's diff stream, what its requests' paths match, and the name of its source.
DIFFS = {"cloud": ("pr_diffstat", "diffstat", SOURCE), "server": ("pr_diff", "/diff$", DC_SOURCE)}


def _move_an_open_pr(name: str, world) -> None:
    """Push commits to an open pull request's source branch: its files moved."""
    if name == "cloud":
        repo, pr = next(
            (r, p)
            for r in world.repositories.values()
            for p in r.pullrequests.values()
            if p.state == "OPEN" and p.source_branch in r.branches
        )
        push_commits(world, repo, pr.source_branch, random.Random(5), n=2)
        return
    repo, pr = next(
        (r, p)
        for r in world.repositories.values()
        for p in r.pull_requests.values()
        if p.state == "OPEN" and p.from_repo_id == r.id and p.from_branch in r.branches
    )
    mutate_code.push_commits(world, repo, pr.from_branch, random.Random(4), n=2)


def test_a_skipped_stream_keeps_its_rows_untouched_and_says_so(tmp_path, mirrored, flavour):
    stream, path, name = DIFFS[flavour.name]
    said = f"skipped by configuration: {stream}"
    harness = mirrored(flavour.name).copy(str(tmp_path / "m.db"))
    kept = _files(harness.db)
    assert kept
    _move_an_open_pr(flavour.name, harness.world)  # its size moved
    before = len(harness.log)
    summary = harness.sync(Options(skip=frozenset({stream})), skip=[])
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert _asked(harness.log[before:], path) == []
    assert _files(harness.db) == kept  # not rewritten, not tombstoned
    assert summary.message == said
    conn = sqlite3.connect(harness.db)
    options, message = conn.execute(
        "select options, message from sync_runs where id = ?", (summary.run_id,)
    ).fetchone()
    conn.close()
    assert json.loads(options)["skip"] == [stream] and message == said
    report = collect(harness.db)
    (source,) = [s for s in report["sources"] if s["name"] == name]
    assert source["skipped"] == [said] and source["last_run"]["health"] == "ok"
    assert f"  skipped       {said}" in render(report).splitlines()
    # The next run without the skip reads the moved PR's diff: equal to the world.
    before = len(harness.log)
    harness.sync_equal()
    assert _asked(harness.log[before:], path)


def test_the_config_skip_leaves_out_the_stream_too(tmp_path, mirrored):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    kept = _files(harness.db)
    world = harness.world
    repo = next(r for r in world.repositories.values() if r.pullrequests)
    pr = next(p for p in repo.pullrequests.values() if p.source_branch in repo.branches)
    push_commits(world, repo, pr.source_branch, random.Random(6), n=1)
    before = len(harness.log)
    summary = harness.sync(skip=["pr_diffstat"])
    assert summary.outcome == "ok" and summary.message == SAID
    assert _asked(harness.log[before:], "diffstat") == [] and _files(harness.db) == kept


def test_skipping_cloud_tags_leaves_the_tags_table_alone(tmp_path, mirrored):
    harness = mirrored("cloud").copy(str(tmp_path / "m.db"))
    conn = sqlite3.connect(harness.db)
    conn.execute("update tags set name = 'kept as it was' where rowid = 1")
    conn.commit()
    tags = conn.execute("select * from tags order by id").fetchall()
    conn.close()
    assert tags
    summary = harness.sync(Options(skip=frozenset({"tags"}), full=True))
    assert summary.outcome == "ok"
    conn = sqlite3.connect(harness.db)
    assert conn.execute("select * from tags order by id").fetchall() == tags
    conn.close()
