"""The simulator's commands: ``simulate`` (serve a simulated Bitbucket) and ``demo``.

Registered on the ``bbmirror`` group by ``cli.py``; kept apart so that module stays small.
"""

from __future__ import annotations

import os
from typing import Any

import click

from bbmirror.cli_common import Failure, friendly

SIM_BUDGET = 100_000  # the simulator's mirror command must finish, not wait out an hour


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=7990, show_default=True, help="Port (0 picks a free one).")
@click.option("--seed", default=1, show_default=True, help="World seed: same seed, same world.")
@click.option(
    "--size",
    type=click.Choice(["tiny", "small", "medium", "large"]),
    default="small",
    show_default=True,
)
@click.option(
    "--kind",
    type=click.Choice(["cloud", "server"]),
    default="cloud",
    show_default=True,
    help="Bitbucket Cloud (REST 2.0) or Server / Data Center (REST 1.0 + Jira).",
)
@click.option("--token", help="Bearer token to accept (default: a fixed demo token).")
@click.option("--email", help="Basic auth email to accept (Server: the username).")
@click.option("--api-token", help="Basic auth API token to accept (Server: the password).")
@click.option("--latency", default=0.0, help="Seconds added to every response.")
@click.option("--rate-limit", type=int, help="Requests per hour per credential before 429.")
@click.option("--fault-rate", default=0.0, help="Fraction of requests failing (5xx, 555, drops).")
@click.option(
    "--token-scopes",
    help="Narrow the credential: Cloud scopes (repository,pullrequest...); Server: PROJ,PROJ/repo.",
)
@click.option("--issue-tracker-removed", is_flag=True, help="Cloud: issue endpoints answer 410.")
@click.option("--webhook-url", help="Cloud: change the world and send signed webhooks here.")
@click.option(
    "--webhook-secret-env",
    default="BITBUCKET_WEBHOOK_SECRET",
    show_default=True,
    help="Environment variable holding the webhooks' secret.",
)
@click.option("--mutate-every", default=10.0, show_default=True, help="Seconds between changes.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def simulate(
    host: str,
    port: int,
    seed: int,
    size: str,
    kind: str,
    token: str | None,
    email: str | None,
    api_token: str | None,
    latency: float,
    rate_limit: int | None,
    fault_rate: float,
    token_scopes: str | None,
    issue_tracker_removed: bool,
    webhook_url: str | None,
    webhook_secret_env: str,
    mutate_every: float,
    debug: bool,
) -> None:
    """Serve a simulated Bitbucket Cloud (or, with --kind server, Server) until stopped.

    \b
    Examples:
      bbmirror simulate --size small
      bbmirror simulate --port 0 --seed 7 --latency 0.05 --fault-rate 0.1
      bbmirror simulate --kind server --size tiny
      bbmirror simulate --token-scopes repository,pullrequest --issue-tracker-removed
      bbmirror simulate --webhook-url http://127.0.0.1:8001/-/webhooks/cloud
    """
    import uvicorn

    from bbmirror.simulator.cloud.api import create_app
    from bbmirror.simulator.cloud.generate import generate
    from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, Credentials, simulator_config
    from bbmirror.simulator.cloud.scopes import parse_scopes
    from bbmirror.simulator.common.faults import Faults
    from bbmirror.simulator.common.serving import listening_socket

    scopes = parse_scopes(token_scopes) if token_scopes is not None else None

    if bool(email) != bool(api_token):
        raise click.UsageError("--email and --api-token go together")
    if webhook_url and not os.environ.get(webhook_secret_env):
        raise Failure(f"--webhook-url needs a secret: set {webhook_secret_env}")
    try:
        sock = listening_socket(host, port)  # TCP_NODELAY: no 40 ms Nagle wait per response
        sock.listen(128)  # connections queue from now on, before uvicorn starts accepting
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port} ({exc.strerror}); try --port 0") from None
    bound_port = sock.getsockname()[1]
    if kind == "server":
        from bbmirror.simulator.server.api import create_dc_app, dc_simulator_config, mirror_command
        from bbmirror.simulator.server.call import DcFaults
        from bbmirror.simulator.server.generate import generate_dc

        dc_world = generate_dc(seed, size)
        root = f"http://{host}:{bound_port}"
        secret = token or (None if email else DEFAULT_TOKEN)
        bucket = {"capacity": rate_limit, "fill_rate": rate_limit / 3600} if rate_limit else {}
        dc_faults = DcFaults(latency=latency, fault_rate=fault_rate, **bucket)
        basic = (email, api_token) if email and api_token else None
        dc_config = dc_simulator_config(dc_world, secret, basic, root, dc_faults)
        if scopes is not None:
            dc_config.access = {key: tuple(scopes) for key in (secret, email) if key}
        click.echo(f"Simulated Bitbucket Server ({size}, seed {seed}) at {root}")
        click.echo(f"  REST API:     {root}/rest/api/1.0  (Jira: {root}/rest/jira/1.0)")
        if secret:
            click.echo(f"  Bearer token: {secret}")
            env = f"BITBUCKET_SERVER_TOKEN={secret}"
        else:
            click.echo(f"  Basic auth:   {email} / {api_token}")
            env = f"BITBUCKET_USER={email} BITBUCKET_PASSWORD={api_token}"
        click.echo(f"  Mirror it:    {mirror_command(dc_world, root, env)} --budget {SIM_BUDGET}")
        click.echo("Press Ctrl-C to stop.", err=True)
        dc_app = create_dc_app(dc_world, dc_config)
        server_config = uvicorn.Config(
            dc_app, log_level="warning", access_log=False, lifespan="off"
        )
        hooks = _webhooks(dc_world, dc_app, root, webhook_url, webhook_secret_env, mutate_every,
                          seed, "server")  # fmt: skip
        try:
            uvicorn.Server(server_config).run(sockets=[sock])
        finally:
            if hooks is not None:
                hooks.stop()
        return
    world = generate(seed, size)
    base_url = f"http://{host}:{bound_port}/2.0"
    credentials = Credentials(
        token=token or (None if email else DEFAULT_TOKEN), email=email, api_token=api_token
    )
    faults = Faults(latency=latency, rate_limit=rate_limit, fault_rate=fault_rate)
    sim_config = simulator_config(world, credentials, base_url=base_url, faults=faults)
    sim_config.issue_tracker_removed = issue_tracker_removed
    if scopes is not None:
        sim_config.scopes = {k: scopes for k in (credentials.token, email) if k}
    app = create_app(world, sim_config)
    workspaces = " ".join(f"--workspace {w}" for w in sorted(world.workspaces))
    click.echo(f"Simulated Bitbucket Cloud ({size}, seed {seed}) at {base_url}")
    if credentials.token:
        click.echo(f"  Bearer token: {credentials.token}")
        env = f"BITBUCKET_TOKEN={credentials.token}"
    else:
        click.echo(f"  Basic auth:   {email} / {api_token}")
        env = f"BITBUCKET_EMAIL={email} BITBUCKET_API_TOKEN={api_token}"
    click.echo(
        f"  Mirror it:    {env} bbmirror sync sim.db --base-url {base_url} {workspaces}"
        f" --budget {SIM_BUDGET}"
    )
    click.echo("Press Ctrl-C to stop.", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    hooks = _webhooks(world, app, base_url, webhook_url, webhook_secret_env, mutate_every, seed)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if hooks is not None:
            hooks.stop()


def _webhooks(world, app, base_url, url, secret_env, every, seed, kind="cloud"):  # noqa: ANN001, ANN202
    """The changing world's webhook sender (``--webhook-url``), started; or None."""
    from bbmirror.simulator.cloud import webhooks as hooks
    from bbmirror.simulator.cloud.mutate import random_activity
    from bbmirror.simulator.common.webhook_loop import WebhookActivity
    from bbmirror.simulator.common.webhooks import WebhookSender

    if not url:
        return None
    secret = os.environ[secret_env]  # checked before the simulator started
    sender = WebhookSender(url, secret, kind=kind, seed=seed)
    extra = {"hooks": hooks, "activity": random_activity}
    if kind == "server":
        from bbmirror.simulator.server import webhooks as dc_hooks
        from bbmirror.simulator.server.mutate import random_activity as dc_activity

        extra = {"hooks": dc_hooks, "activity": dc_activity}
    click.echo(f"  Webhooks:     a change every {every:g}s, delivered to {url}")
    say = lambda line: click.echo(line, err=True)  # noqa: E731
    return WebhookActivity(world, app.state.lock, base_url, sender, every=every, seed=seed,
                           say=say, **extra).start()  # fmt: skip


@click.command()
@click.argument("db", default="demo.db", type=click.Path(dir_okay=False))
@click.option(
    "--size",
    type=click.Choice(["tiny", "small", "medium", "large"]),
    default="small",
    show_default=True,
)
@click.option("--seed", default=1, show_default=True)
@click.option("--every", default=60.0, show_default=True, help="Seconds between sync runs.")
@click.option("--changes", default=25, show_default=True, help="World changes before each run.")
@click.option("--cycles", type=int, help="Stop after this many runs (default: never).")
@click.option("--port", default=8001, show_default=True, help="Datasette port (0: a free one).")
@click.option("--issue-tracker-removed", is_flag=True, help="Issue endpoints answer 410.")
@click.option("--webhooks", is_flag=True, help="Changes arrive by webhook; the poll is rare.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def demo(db: str, debug: bool, **options: Any) -> None:
    """Simulate Bitbucket, mirror it into DB (default demo.db), serve it, keep it fresh.

    \b
    Prints the Datasette URL and pages to open; every --every seconds the
    simulated world changes and the mirror catches up. Ctrl-C stops it.

    \b
    Examples:
      bbmirror demo
      bbmirror demo --size tiny --every 5 --cycles 3 --port 0
      bbmirror demo --webhooks --every 5
    """
    from bbmirror.demo import run_demo

    run_demo(db, say=click.echo, **options)  # the options above are run_demo's keywords
