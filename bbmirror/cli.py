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
