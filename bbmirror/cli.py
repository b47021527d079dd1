"""The bbmirror command line: click commands only, each calls into a module."""

from __future__ import annotations

import json
import sys

import click

from bbmirror import __version__
from bbmirror.cli_common import (
    Failure,
    SourceFlags,
    check_repo,
    friendly,
    source_options,
)
from bbmirror.cli_history import history
from bbmirror.cli_simulate import demo, simulate

DEFAULT_DB = "bitbucket.db"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bbmirror")
def cli() -> None:
    """Keep an offline, incremental copy of Bitbucket in SQLite and serve it with Datasette."""


cli.add_command(simulate)
cli.add_command(demo)
cli.add_command(history)


@cli.command()
@click.argument("db", default=DEFAULT_DB, type=click.Path(dir_okay=False))
@source_options
@click.option("--full", is_flag=True, help="Ignore watermarks and re-read everything.")
@click.option("--reconcile", is_flag=True, help="Also scan ids to tombstone deleted items.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (also on failure).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def sync(
    db: str, flags: SourceFlags, full: bool, reconcile: bool, as_json: bool, debug: bool
) -> None:
    """Mirror Bitbucket into DB (default bitbucket.db), fetching only what changed.

    \b
    Credentials come from the environment:
      BITBUCKET_TOKEN                        (access token or OAuth, Bearer)
      BITBUCKET_EMAIL + BITBUCKET_API_TOKEN  (Basic)
      BITBUCKET_SERVER_TOKEN                 (Data Center; or BITBUCKET_USER + _PASSWORD)
    Without one, sync refuses; --anonymous reads public data only.

    \b
    Exit codes: 0 ok, 1 failed, 3 partial (finished, some records or streams
    were not read: see `bbmirror status`).

    \b
    Examples:
      bbmirror sync --workspace acme
      bbmirror sync acme.db --repo acme/api --only pullrequests,commits
      bbmirror sync --config bbmirror.toml --reconcile
    """
    from bbmirror.cli_outcome import run_sync

    run_sync(db, flags, full=full, reconcile=reconcile, as_json=as_json, debug=debug)


@cli.command()
@click.argument("db", default=DEFAULT_DB, type=click.Path(dir_okay=False))
@source_options
@click.option("--every", help="Interval without a config file: 90s, 15m, 2h (default 15m).")
@click.option("--webhooks", help="Also take Bitbucket webhooks at HOST:PORT (e.g. 127.0.0.1:8002).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@friendly
def schedule(
    db: str, flags: SourceFlags, every: str | None, webhooks: str | None, debug: bool
) -> None:
    """Keep DB fresh: sync every source on its interval until SIGTERM or Ctrl-C.

    \b
    Takes sync's source flags. Logs one line per run to stderr (a partial run
    is a warning). Only one scheduler writes to a database; a second one logs
    skips, takes over if the first one dies, and warns if it stops making
    progress (SIGSTOP, a hang).

    \b
    Examples:
      bbmirror schedule --config bbmirror.toml acme.db
      bbmirror schedule --workspace acme --every 15m --budget 2000
    """
    from bbmirror.config import require_credentials
    from bbmirror.engine import Options
    from bbmirror.schedule import run_scheduler
    from bbmirror.store.db import Store

    sources = flags.sources(every=every if flags.config_path else every or "15m")
    options = Options(only=flags.streams(), skip=flags.skipped(), repos=flags.repos)
    require_credentials(sources)
    Store.open(db).close()  # a bad path fails now, in one line, not at every run
    _log_to_stderr(debug)
    names = ", ".join(s.name for s in sources)
    click.echo(f"Keeping {db} fresh from {names}; stop with Ctrl-C or SIGTERM.", err=True)
    hooks: tuple = ()
    if webhooks:
        from bbmirror.webhooks.serving import address, make_hub

        hooks = (make_hub(db, sources, options), *address(webhooks))
    run_scheduler(db, sources, options=options, webhooks=hooks)


def _log_to_stderr(debug: bool) -> None:
    """One line per run on stderr, for schedule and serve --sync."""
    import logging

    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


@cli.command()
@click.argument("db", default=DEFAULT_DB, type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def status(db: str, config_path: str | None, as_json: bool, debug: bool) -> None:
    """Show how fresh DB (default bitbucket.db) is: per source, repository and stream.

    \b
    Last successful sync, watermarks, rows, last errors, and requests used in
    the last hour against the budget (from --config, else 1000/hour). Opens DB
    read-only, so it works while a sync writes.

    \b
    Examples:
      bbmirror status acme.db
      bbmirror status acme.db --config bbmirror.toml --json
    """
    from bbmirror.config import load_config
    from bbmirror.status import collect, render

    sources = load_config(config_path) if config_path else None
    report = collect(db, sources)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))


@cli.command()
@click.argument("db", default=DEFAULT_DB, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8001, show_default=True, help="Port (0 picks a free one).")
@click.option("--sync", "keep_synced", is_flag=True, help="Also sync on schedule (sync's flags).")
@click.option("--webhooks", is_flag=True, help="Also take webhooks at /-/webhooks/SOURCE.")
@source_options
@click.option("--every", help="Interval without a config file: 90s, 15m, 2h (default 15m).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def serve(
    db: str,
    host: str,
    port: int,
    keep_synced: bool,
    webhooks: bool,
    flags: SourceFlags,
    every: str | None,
    debug: bool,
) -> None:
    """Browse DB (default bitbucket.db) in Datasette: reports, dashboards, search.

    \b
    Read-only; binds 127.0.0.1 unless --host says otherwise. With --sync, the
    sources (sync's flags or --config) are synced on their schedule while it
    serves, one log line per run on stderr.

    \b
    Examples:
      bbmirror serve acme.db
      bbmirror serve acme.db --port 0 --host 0.0.0.0
      bbmirror serve acme.db --sync --config bbmirror.toml
      bbmirror serve acme.db --sync --workspace acme --every 30m
    """
    from bbmirror.config import require_credentials
    from bbmirror.engine import Options
    from bbmirror.serve import ServeError
    from bbmirror.serve import serve as run_server

    given = flags != SourceFlags(None, None, (), (), None, (), None, None, None, False)
    if (given or every) and not (keep_synced or webhooks):
        raise click.UsageError("source flags and --config are only used with --sync or --webhooks")
    sources, options, hub = None, None, None
    if keep_synced or webhooks:
        sources = flags.sources(every=every if flags.config_path else every or "15m")
        options = Options(only=flags.streams(), skip=flags.skipped(), repos=flags.repos)
        require_credentials(sources)
        _log_to_stderr(debug)
    if webhooks:
        from bbmirror.webhooks.serving import make_hub

        hub = make_hub(db, sources or [], options)
    try:
        run_server(
            db, host, port, sources=sources if keep_synced else None, say=click.echo,
            options=options, webhooks=hub,
        )  # fmt: skip
    except ServeError as exc:
        raise Failure(str(exc)) from None


@cli.command("import-issues")
@click.argument("db", type=click.Path(dir_okay=False))
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--repo", required=True, help="WORKSPACE/SLUG the archive belongs to.")
@click.option("--source", help="Source name for new rows (default: the mirrored repository's).")
@click.option(
    "--create-repo", is_flag=True, help="Add --repo to the mirror if it is not there yet."
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def import_issues(
    db: str, archive: str, repo: str, source: str | None, create_repo: bool, debug: bool
) -> None:
    """Import a Bitbucket issue-export ARCHIVE (zip or db-*.json) into DB.

    \b
    Reads db-2.0.json or db-1.0.json with attachments; one transaction, so a bad
    archive changes nothing. Re-importing the same archive changes nothing.
    --repo must be in the mirror already (a typo would create a phantom
    repository); --create-repo adds it.

    \b
    Examples:
      bbmirror import-issues acme.db acme-api-issues.zip --repo acme/api
      bbmirror import-issues acme.db db-1.0.json --repo acme/legacy
    """
    from bbmirror.archive import import_archive
    from bbmirror.progress import TerminalProgress

    check_repo(repo)
    if not create_repo:
        _require_mirrored(db, repo)
    progress = TerminalProgress()
    try:
        summary = import_archive(db, archive, repo, progress=progress, source=source)
    finally:
        progress.done()
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary.line())


@cli.command("export-issues")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.option("--repo", required=True, help="WORKSPACE/SLUG to export.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Zip path.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def export_issues(db: str, repo: str, output: str, debug: bool) -> None:
    """Write a Bitbucket-compatible issue-export zip (db-2.0.json) from DB.

    \b
    Example:
      bbmirror export-issues acme.db --repo acme/api -o acme-api-issues.zip
    """
    from pathlib import Path

    from bbmirror.archive import export_archive

    check_repo(repo)
    folder = Path(output).expanduser().absolute().parent
    if not folder.is_dir():
        raise Failure(f"cannot write {output}: folder {folder} does not exist; create it first")
    click.echo(export_archive(db, repo, output).line())


def _require_mirrored(db: str, repo: str) -> None:
    """Refuse an archive for a repository the mirror does not hold: a typo is not a new repo."""
    from pathlib import Path

    from bbmirror.store.db import Store

    if not Path(db).expanduser().is_file():
        raise Failure(
            f"{db} does not exist: sync {repo} first, or pass --create-repo to import anyway"
        )
    with Store.open(db, readonly=True) as store:
        found = store.conn.execute(
            "SELECT 1 FROM repositories WHERE lower(full_name) = lower(?) LIMIT 1", (repo,)
        ).fetchone()
    if not found:
        raise Failure(
            f"repository {repo!r} is not in {db}: check the name (see `bbmirror status`), "
            "or pass --create-repo to add it"
        )
