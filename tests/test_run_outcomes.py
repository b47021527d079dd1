"""Every run that starts leaves a visible outcome (issue 11.10).

A failed preflight leaves a run row that `status` reports; `--json` prints one JSON object in
every case; a partial run is a warning for `schedule` and `status`; a run whose every request
failed says so; Data Center's rejected credentials are said in Data Center's words.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import dbstate
import httpx
import pytest
from click.testing import CliRunner
from dc_mirror import TOKEN as DC_TOKEN
from mirror import TOKEN, Harness

from bbmirror.cli import cli
from bbmirror.engine import Options, sync_sources
from bbmirror.schedule import Scheduler, run_until_done
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.common.serving import RunningApp
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig
from bbmirror.simulator.server.generate import generate_dc

ENV = {"BITBUCKET_EMAIL": None, "BITBUCKET_API_TOKEN": None}
FAST = {"backoff": 0.001, "max_backoff": 0.01, "retries": 3}


@pytest.fixture(scope="module")
def simulator():
    world = generate(21, "tiny")
    with RunningSimulator(world, SimulatorConfig(tokens={TOKEN: viewer_uuid(world)})) as running:
        yield running


def _sync(simulator, db: Path, *args: str, token: str | None = TOKEN):
    return CliRunner().invoke(
        cli,
        ["sync", str(db), "--base-url", simulator.base_url, "--workspace", "acme", *args],
        env={**ENV, "BITBUCKET_TOKEN": token},
    )


def _status(db: Path) -> dict:
    result = CliRunner().invoke(cli, ["status", str(db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["sources"][0]


def test_a_rejected_token_leaves_a_failed_run_that_status_reports(tmp_path, simulator):
    db = tmp_path / "m.db"
    assert _sync(simulator, db).exit_code == 0
    assert _status(db)["last_run"]["outcome"] == "ok"
    result = _sync(simulator, db, token="expired-token-123456")
    assert result.exit_code == 1
    last = _status(db)["last_run"]
    assert last["outcome"] == "failed" and last["health"] == "failed"
    assert "credentials" in last["message"] and "expired-token-123456" not in last["message"]
    text = CliRunner().invoke(cli, ["status", str(db)]).output
    assert "FAILED" in text


def test_json_is_one_object_also_on_failure(tmp_path, simulator):
    db = tmp_path / "m.db"
    ok = json.loads(_sync(simulator, db, "--json").stdout)
    assert ok["outcome"] == "ok" and ok["error"] is None and len(ok["runs"]) == 1
    rejected = _sync(simulator, db, "--json", token="expired-token-123456")
    assert rejected.exit_code == 1
    body = json.loads(rejected.stdout)  # exactly one JSON document on stdout
    assert body["outcome"] == "failed" and "credentials" in body["error"]
    assert body["runs"][0]["outcome"] == "failed"
    missing = _sync(simulator, db, "--json", token=None)
    body = json.loads(missing.stdout)
    assert body["outcome"] == "failed" and "BITBUCKET_TOKEN" in body["error"]
    assert body["runs"] == []


def test_a_run_whose_every_request_failed_says_so(tmp_path):
    h = Harness(generate(21, "tiny"), str(tmp_path / "m.db"))
    assert h.sync().outcome == "ok"
    h.app.state.faults.fault_rate = 1.0
    h.app.state.faults.fault_kinds = ("500",)
    with pytest.raises(Exception) as caught:
        h.sync()
    outcome, message = dbstate.runs(h.db)[-1]
    assert outcome == "failed"
    assert message.startswith("every request failed"), message
    assert "none answered" in str(caught.value)


class FailingTags(httpx.AsyncBaseTransport):
    """The simulator, except that every refs list (tags too) answers 500: a run that ends
    partial."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/refs"):
            return httpx.Response(500, json={"error": {"message": "tags are down"}})
        return await self.inner.handle_async_request(request)


def test_a_partial_run_is_a_warning_for_schedule_and_status(tmp_path, caplog):
    h = Harness(generate(21, "tiny"), str(tmp_path / "m.db"))
    source = h.source(reconcile_every=0)
    scheduler = Scheduler(
        h.db,
        [source],
        transport=FailingTags(SimulatorTransport(h.app)),
        client_options=FAST,
        runs=1,
    )
    with caplog.at_level(logging.INFO, logger="bbmirror.schedule"):
        asyncio.run(asyncio.wait_for(run_until_done(scheduler), 60))
    lines = [r for r in caplog.records if "partial" in r.getMessage()]
    assert lines and all(r.levelno == logging.WARNING for r in lines), caplog.text
    assert dbstate.runs(h.db)[-1][0] == "partial"
    src = _status(Path(h.db))
    assert src["last_run"]["health"] == "warning"
    assert src["last_success"] is None  # partial is not a success
    assert "WARNING partial" in CliRunner().invoke(cli, ["status", h.db]).output


def test_data_center_rejection_names_its_variable(tmp_path):
    world = generate_dc(6, "tiny")
    viewer = world.users[min(world.users)].slug

    def make(root: str):
        return create_dc_app(world, DcConfig(base_url=root, tokens={DC_TOKEN: viewer}))

    with RunningApp(make) as running:
        result = CliRunner().invoke(
            cli,
            ["sync", str(tmp_path / "m.db"), "--server-url", running.root],
            env={"BITBUCKET_SERVER_TOKEN": "wrong-token-123456"},
        )
    assert result.exit_code == 1
    line = result.output.strip()
    assert "Data Center" in line and "BITBUCKET_SERVER_TOKEN" in line, line
    assert "email" not in line and "wrong-token-123456" not in line


class AlwaysLimited(httpx.AsyncBaseTransport):
    """A server that answers 429 to everything, from the first request on."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"message": "Rate limit for this resource"}})


def test_a_429_on_the_first_request_is_a_failed_run(tmp_path):
    h = Harness(generate(21, "tiny"), str(tmp_path / "m.db"))
    assert h.sync().outcome == "ok"
    with pytest.raises(Exception, match="every request failed"):
        asyncio.run(
            sync_sources(h.db, [h.source()], Options(), transport=AlwaysLimited(),
                         client_options=FAST)
        )  # fmt: skip
    last = _status(Path(h.db))["last_run"]
    assert last["outcome"] == "failed" and "429" in last["message"], last


def test_a_404_is_an_answer_not_a_failed_request(tmp_path, simulator):
    result = CliRunner().invoke(
        cli,
        ["sync", str(tmp_path / "m.db"), "--base-url", simulator.base_url, "--anonymous"]
        + ["--workspace", "no-such-workspace"],
        env={**ENV, "BITBUCKET_TOKEN": None},
    )
    assert result.exit_code == 1
    assert "'no-such-workspace' does not exist" in result.output
    assert "every request failed" not in result.output
