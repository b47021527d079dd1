"""The bbmirror command line: click commands only, each calls into a module."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from bbmirror import __version__

DEFAULT_DB = "bitbucket.db"


class Failure(click.ClickException):
    """A one-line error and exit code 1; the traceback only with --debug."""

    def format_message(self) -> str:
        return self.message


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected failures into one clear line (tracebacks with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bbmirror.config import ConfigError
        from bbmirror.http import BitbucketError
        from bbmirror.store.db import StoreError
        from bbmirror.sync import SyncError

        debug = kwargs.get("debug", False)
        try:
            return func(*args, **kwargs)
        except (ConfigError, BitbucketError, StoreError, SyncError, OSError) as exc:
            if debug:
                traceback.print_exc()
            raise Failure(_scrub(str(exc))) from None
        except KeyboardInterrupt:
            raise Failure("interrupted; what was committed is kept, rerun to resume") from None

    return wrapper


def _scrub(text: str) -> str:
    """Last line of defence: no credential from the environment appears in output."""
    for name, value in os.environ.items():
        if value and len(value) >= 6 and any(k in name for k in ("TOKEN", "PASSWORD", "SECRET")):
            text = text.replace(value, "***")
    return text


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bbmirror")
def cli() -> None:
    """Keep an offline, incremental copy of Bitbucket in SQLite and serve it with Datasette."""


@cli.command()
@click.argument("db", default=DEFAULT_DB, type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config.")
@click.option("--base-url", help="API base URL (default https://api.bitbucket.org/2.0).")
@click.option("--workspace", "workspaces", multiple=True, help="Workspace slug (repeatable).")
@click.option("--repo", "repos", multiple=True, help="WORKSPACE/SLUG to sync (repeatable).")
@click.option("--only", help="Comma-separated streams, e.g. pullrequests,issues.")
@click.option("--full", is_flag=True, help="Ignore watermarks and re-read everything.")
@click.option("--reconcile", is_flag=True, help="Also scan ids to tombstone deleted items.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def sync(
    db: str,
    config_path: str | None,
    base_url: str | None,
    workspaces: tuple[str, ...],
    repos: tuple[str, ...],
    only: str | None,
    full: bool,
    reconcile: bool,
    as_json: bool,
    debug: bool,
) -> None:
    """Mirror Bitbucket into DB (default bitbucket.db), fetching only what changed.

    \b
    Credentials come from the environment:
      BITBUCKET_TOKEN                        (access token or OAuth, Bearer)
      BITBUCKET_EMAIL + BITBUCKET_API_TOKEN  (Basic)

    \b
    Examples:
      bbmirror sync --workspace acme
      bbmirror sync acme.db --repo acme/api --only pullrequests,commits
      bbmirror sync --config bbmirror.toml --reconcile
    """
    from bbmirror.config import ConfigError, Source, credentials_from_env, load_config
    from bbmirror.progress import TerminalProgress
    from bbmirror.streams.cloud import CLOUD_STREAMS
    from bbmirror.sync import Options, sync_sources

    for repo in repos:
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise ConfigError(f"--repo {repo!r} should look like WORKSPACE/SLUG")
    streams = frozenset(s.strip() for s in (only or "").split(",") if s.strip())
    unknown = streams - set(CLOUD_STREAMS)
    if unknown:
        names = ", ".join(sorted(n for n in CLOUD_STREAMS if not n.startswith("_")))
        raise ConfigError(f"unknown stream {sorted(unknown)[0]!r} in --only; known: {names}")
    if config_path:
        if base_url or workspaces:
            raise ConfigError("--base-url and --workspace go in the config file when using one")
        sources = load_config(config_path)
    else:
        sources = [
            Source(
                name="cloud",
                base_url=(base_url or "https://api.bitbucket.org/2.0").rstrip("/"),
                workspaces=list(workspaces),
                credentials=credentials_from_env(),
            )
        ]
    options = Options(full=full, reconcile=reconcile, only=streams, repos=repos)
    progress = TerminalProgress()
    try:
        summaries = asyncio.run(sync_sources(db, sources, options, progress=progress))
    finally:
        progress.done()
    if as_json:
        click.echo(json.dumps([vars(s) for s in summaries], indent=2))
    else:
        for summary in summaries:
            click.echo(summary.line())
    if any(s.outcome != "ok" for s in summaries):
        sys.exit(3)  # finished, but some records or streams were quarantined


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=7990, show_default=True, help="Port (0 picks a free one).")
@click.option("--seed", default=1, show_default=True, help="World seed: same seed, same world.")
@click.option(
    "--size",
    type=click.Choice(["tiny", "small", "medium", "large"]),
    default="small",
    show_default=True,
)
@click.option("--token", help="Bearer token to accept (default: a fixed demo token).")
@click.option("--email", help="Basic auth email to accept (with --api-token).")
@click.option("--api-token", help="Basic auth API token to accept (with --email).")
@click.option("--latency", default=0.0, help="Seconds added to every response.")
@click.option("--rate-limit", type=int, help="Requests per hour per credential before 429.")
@click.option("--fault-rate", default=0.0, help="Fraction of requests failing (5xx, 555, drops).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def simulate(
    host: str,
    port: int,
    seed: int,
    size: str,
    token: str | None,
    email: str | None,
    api_token: str | None,
    latency: float,
    rate_limit: int | None,
    fault_rate: float,
    debug: bool,
) -> None:
    """Serve a simulated Bitbucket Cloud (REST 2.0) on HOST:PORT until stopped.

    \b
    Examples:
      bbmirror simulate --size small
      bbmirror simulate --port 0 --seed 7 --latency 0.05 --fault-rate 0.1
    """
    import socket

    import uvicorn

    from bbmirror.simulator.cloud_api import create_app
    from bbmirror.simulator.faults import Faults
    from bbmirror.simulator.generate import generate
    from bbmirror.simulator.launch import DEFAULT_TOKEN, Credentials, simulator_config

    if bool(email) != bool(api_token):
        raise click.UsageError("--email and --api-token go together")
    world = generate(seed, size)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port} ({exc.strerror}); try --port 0") from None
    bound_port = sock.getsockname()[1]
    base_url = f"http://{host}:{bound_port}/2.0"
    credentials = Credentials(
        token=token or (None if email else DEFAULT_TOKEN), email=email, api_token=api_token
    )
    faults = Faults(latency=latency, rate_limit=rate_limit, fault_rate=fault_rate)
    app = create_app(world, simulator_config(world, credentials, base_url=base_url, faults=faults))
    workspaces = " ".join(f"--workspace {w}" for w in sorted(world.workspaces))
    click.echo(f"Simulated Bitbucket Cloud ({size}, seed {seed}) at {base_url}")
    if credentials.token:
        click.echo(f"  Bearer token: {credentials.token}")
        env = f"BITBUCKET_TOKEN={credentials.token}"
    else:
        click.echo(f"  Basic auth:   {email} / {api_token}")
        env = f"BITBUCKET_EMAIL={email} BITBUCKET_API_TOKEN={api_token}"
    click.echo(f"  Mirror it:    {env} bbmirror sync sim.db --base-url {base_url} {workspaces}")
    click.echo("Press Ctrl-C to stop.", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


@cli.command()
@click.argument("db", default="demo.db", type=click.Path(dir_okay=False))
@click.option(
    "--size",
    type=click.Choice(["tiny", "small", "medium", "large"]),
    default="small",
    show_default=True,
)
@click.option("--seed", default=1, show_default=True)
@click.option("--every", default=60.0, show_default=True, help="Seconds between cycles.")
@click.option("--changes", default=25, show_default=True, help="World changes per cycle.")
@click.option("--cycles", type=int, help="Stop after this many cycles (default: never).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def demo(
    db: str, size: str, seed: int, every: float, changes: int, cycles: int | None, debug: bool
) -> None:
    """Simulate Bitbucket, mirror it into DB (default demo.db) and keep it fresh.

    \b
    Examples:
      bbmirror demo
      bbmirror demo --size tiny --every 5 --cycles 3
    """
    from bbmirror.demo import run_demo

    run_demo(db, size=size, seed=seed, every=every, changes=changes, cycles=cycles, say=click.echo)
