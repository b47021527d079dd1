"""`python -m bbmirror` runs the CLI."""

from bbmirror.cli import cli

cli()
