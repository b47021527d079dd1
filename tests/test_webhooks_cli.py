"""The command line around webhooks: bad input is one clear line and a non-zero exit; the
receiver mounted beside Datasette answers on its path and leaves Datasette's pages alone."""

from __future__ import annotations

import asyncio

import httpx
from click.testing import CliRunner
from mirror import Harness

from bbmirror.cli import cli
from bbmirror.config import Secret, Source
from bbmirror.serve import make_datasette
from bbmirror.simulator.cloud.generate import generate
from bbmirror.webhooks.receive import create_app, with_webhooks
from bbmirror.webhooks.serving import address, make_hub
from bbmirror.webhooks.worker import Hub

ENV = {"BITBUCKET_TOKEN": "t0ken-for-tests", "BITBUCKET_WEBHOOK_SECRET": ""}


def test_serve_webhooks_without_a_secret_says_which_variable_to_set(tmp_path):
    db = tmp_path / "m.db"
    db.touch()
    result = CliRunner().invoke(
        cli, ["serve", str(db), "--webhooks", "--workspace", "acme"], env=ENV
    )
    assert result.exit_code != 0
    assert "set BITBUCKET_WEBHOOK_SECRET" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_schedule_webhooks_address_must_be_host_and_port(tmp_path):
    env = {**ENV, "BITBUCKET_WEBHOOK_SECRET": "s3cret-value"}
    args = ["schedule", str(tmp_path / "m.db"), "--workspace", "acme", "--webhooks", "here"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code != 0
    assert "give HOST:PORT" in result.output and "s3cret-value" not in result.output
    assert address("127.0.0.1:8002") == ("127.0.0.1", 8002)
    assert address("[::1]:0") == ("::1", 0)


def test_a_data_center_source_reads_its_own_secret_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("BITBUCKET_SERVER_WEBHOOK_SECRET", "dc-secret")
    monkeypatch.delenv("BITBUCKET_WEBHOOK_SECRET", raising=False)
    dc = Source(name="dc", kind="server", base_url="https://bb.example.com")
    hub = make_hub(str(tmp_path / "m.db"), [dc])
    assert hub.secrets["dc"] == Secret("dc-secret")


def test_the_receiver_beside_datasette_shares_its_address(tmp_path):
    mirror = Harness(generate(1, "tiny"), str(tmp_path / "m.db"))
    assert mirror.sync().outcome == "ok"
    hub = Hub(mirror.db, [mirror.source()], secrets={"cloud": Secret("x")})
    app = with_webhooks(make_datasette(mirror.db).app(), create_app(hub))

    async def main() -> tuple[int, int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
            page = await client.get("/m/pullrequests")
            hook = await client.post("/-/webhooks/cloud", content=b"{}")
            nope = await client.get("/-/webhooks/cloud")
        await hub.stop()
        return page.status_code, hook.status_code, nope.status_code

    assert asyncio.run(main()) == (200, 401, 405)


def test_simulate_sends_webhooks_only_with_a_secret():
    args = ["simulate", "--port", "0", "--webhook-url", "http://127.0.0.1:9/-/webhooks/cloud"]
    result = CliRunner().invoke(cli, args, env={"BITBUCKET_WEBHOOK_SECRET": ""})
    assert result.exit_code != 0
    assert (
        result.output.strip() == "Error: --webhook-url needs a secret: set BITBUCKET_WEBHOOK_SECRET"
    )
