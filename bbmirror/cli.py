"""The bbmirror command line: click commands only, each calls into a module."""

from __future__ import annotations

import click

from bbmirror import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bbmirror")
def cli() -> None:
    """Keep an offline, incremental copy of Bitbucket in SQLite and serve it with Datasette."""
