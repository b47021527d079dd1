"""What the commands share: one-line failures, and one option set for every command that syncs.

``sync``, ``schedule`` and ``serve --sync`` take the same source flags (``@source_options``)
and build their sources the same way (``SourceFlags.sources``).
"""

from __future__ import annotations

import errno
import functools
import sqlite3
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

SOURCE_FLAGS = (
    "config_path",
    "base_url",
    "workspaces",
    "repos",
    "server_url",
    "projects",
    "budget",
    "concurrency",
    "only",
    "anonymous",
    "skip",
)


class Failure(click.ClickException):
    """A one-line error and exit code 1; the traceback only with --debug."""

    def format_message(self) -> str:
        return self.message


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected failures into one clear line (tracebacks with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bbmirror.archive import ArchiveError
        from bbmirror.config import ConfigError
        from bbmirror.engine import SyncError
        from bbmirror.http import BitbucketError
        from bbmirror.store.db import StoreError

        debug = kwargs.get("debug", False)
        try:
            return func(*args, **kwargs)
        except (ArchiveError, ConfigError, BitbucketError, StoreError, SyncError) as exc:
            if debug:
                traceback.print_exc()
            raise Failure(scrub(str(exc))) from None
        except (OSError, sqlite3.Error) as exc:
            if debug:
                traceback.print_exc()
            raise Failure(scrub(describe_failure(exc, kwargs.get("db")))) from None
        except KeyboardInterrupt:
            raise Failure("interrupted; what was committed is kept, rerun to resume") from None

    return wrapper


def describe_failure(exc: BaseException, db: str | None) -> str:
    """Disk full, a file size limit or a damaged database, said in one line."""
    where = f" {db}" if db else " the database"
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"cannot write{where}: {exc.strerror}; free disk space or raise the file size limit"
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return (
            f"{where.strip()} is damaged ({text}): restore it from a backup or sync into a new "
            "file; nothing more was written"
        )
    if isinstance(exc, sqlite3.OperationalError) and ("full" in text or "I/O" in text):
        return (
            f"cannot write{where} ({text}): free disk space or raise the file size limit "
            "(ulimit -f); what was committed is kept, rerun to resume"
        )
    if isinstance(exc, sqlite3.Error):
        return f"database error in{where}: {text}"
    return text


def scrub(text: str) -> str:
    """Last line of defence: no credential from the environment appears in output."""
    from bbmirror.http.scrub import env_secrets
    from bbmirror.http.scrub import scrub as scrub_known

    return scrub_known(text, env_secrets())


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The source flags of every command that syncs, handed over as one ``flags`` argument."""
    path = click.Path(dir_okay=False)
    options = [
        click.option("--config", "config_path", type=path, help="TOML config."),
        click.option("--base-url", help="API base URL (default https://api.bitbucket.org/2.0)."),
        click.option("--workspace", "workspaces", multiple=True, help="Workspace (repeatable)."),
        click.option("--repo", "repos", multiple=True, help="WORKSPACE/SLUG (repeatable)."),
        click.option("--server-url", help="Bitbucket Data Center URL (instead of Cloud)."),
        click.option("--project", "projects", multiple=True, help="Data Center project key."),
        click.option("--budget", type=int, help="Requests per hour to spend (default 1000)."),
        click.option("--concurrency", type=int, help="Requests in flight (default 4)."),
        click.option("--only", help="Comma-separated streams, e.g. pullrequests,issues."),
        click.option("--anonymous", is_flag=True, help="Read public data only, no credential."),
        click.option(
            "--skip",
            help=(
                "Comma-separated streams to leave out, e.g. pr_diffstat (config: skip). A "
                "parent takes its children: pullrequests its pr_* lists and the pr_feed, "
                "issues its issue_* lists, pipelines its pipeline_steps, Data Center commits "
                "its statuses; pr_comments or pr_activity takes the Cloud pr_feed."
            ),
        ),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in SOURCE_FLAGS}
        return func(*args, flags=SourceFlags(**values), **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


# The flags that describe one source without a config file, and their ``flag_source`` keyword.
FLAG_SOURCE = (
    ("--base-url", "base_url"),
    ("--workspace", "workspaces"),
    ("--server-url", "server_url"),
    ("--project", "projects"),
    ("--budget", "budget"),
    ("--concurrency", "concurrency"),
    ("--anonymous", "anonymous"),
)


@dataclass(frozen=True)
class SourceFlags:
    """The source flags as given on the command line."""

    config_path: str | None
    base_url: str | None
    workspaces: tuple[str, ...]
    repos: tuple[str, ...]
    server_url: str | None
    projects: tuple[str, ...]
    budget: int | None
    concurrency: int | None
    only: str | None
    anonymous: bool
    skip: str | None = None

    def streams(self, flag: str = "--only") -> frozenset[str]:
        """The ``--only`` (or ``--skip``) stream names, checked against the known ones."""
        from bbmirror.config import ConfigError
        from bbmirror.flavours.cloud.streams import CLOUD_STREAMS
        from bbmirror.flavours.server.streams import SERVER_STREAMS
        from bbmirror.skipping import parse

        streams = parse(self.skip if flag == "--skip" else self.only)
        known = set(CLOUD_STREAMS) | set(SERVER_STREAMS)
        unknown = streams - known
        if unknown:
            names = ", ".join(sorted(known))
            raise ConfigError(f"unknown stream {sorted(unknown)[0]!r} in {flag}; known: {names}")
        return streams

    def skipped(self) -> frozenset[str]:
        """The ``--skip`` stream names, checked against the known ones (the plan checks the
        rest before any request: engine/runs.py)."""
        return self.streams("--skip")

    def sources(self, every: str | None = None) -> list:
        """The configured sources, or the one the flags describe (with ``every`` if given)."""
        from bbmirror.config import ConfigError, flag_source, load_config, parse_every

        for repo in self.repos:
            check_repo(repo)
        flags = {key: getattr(self, key) for _, key in FLAG_SOURCE}
        if self.config_path:
            given = [flag for flag, key in FLAG_SOURCE if flags[key]]
            given += ["--every"] if every else []
            if given:
                raise ConfigError(
                    f"{', '.join(given)} go in the config file when using one (see README)"
                )
            return self.checked(load_config(self.config_path))
        source = flag_source(**flags)
        if every is not None:
            source.every = parse_every(every)
        return self.checked([source])

    def checked(self, sources: list) -> list:
        """The sources, once ``--skip`` (with each one's ``skip``) leaves something of them
        and of ``--only`` to read: one line before any request (skipping.py)."""
        from bbmirror.config import ConfigError
        from bbmirror.skipping import check

        only = self.streams()
        for source in sources:
            skipped = check(source.kind, {*self.skipped(), *source.skip})
            if only and not only - skipped:
                raise ConfigError(f"{source.name}: --skip leaves nothing of --only to read")
        return sources


def check_repo(repo: str) -> None:
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise click.UsageError(f"--repo {repo!r} should look like WORKSPACE/SLUG")
