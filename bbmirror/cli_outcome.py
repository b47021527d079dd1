"""``bbmirror sync``'s outcome: the summary lines or one JSON object, and the exit code.

Exit codes: 0 every source ok, 3 partial (finished, but something was not read: a warning),
1 failed (one line on stderr). With ``--json``, stdout holds exactly one JSON object in every
case: ``{"outcome", "runs", "error"}``, ``runs`` being each source's summary.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from bbmirror.cli_common import Failure, SourceFlags, friendly

EXIT_PARTIAL = 3


def run_sync(
    db: str, flags: SourceFlags, *, full: bool, reconcile: bool, as_json: bool, debug: bool
) -> None:
    """Run the sync, print its outcome, and exit with its code."""
    runs: list[Any] = []
    try:
        _sync(db=db, flags=flags, full=full, reconcile=reconcile, runs=runs, debug=debug)
    except (Failure, click.UsageError) as exc:
        if as_json:
            _emit(runs, "failed", exc.format_message())
        raise
    except Exception as exc:  # a bug: still one JSON object for the script reading stdout
        if as_json:
            _emit(runs, "failed", f"{type(exc).__name__}: {exc}")
        raise
    outcome = worst(s.outcome for s in runs)
    if as_json:
        _emit(runs, outcome, None)
    else:
        for summary in runs:
            click.echo(summary.line())
    if outcome != "ok":
        sys.exit(EXIT_PARTIAL)  # finished, but some records or streams were not read


def worst(outcomes: Any) -> str:
    """The run's overall outcome: failed over partial over ok."""
    seen = set(outcomes)
    for outcome in ("failed", "interrupted", "partial"):
        if outcome in seen:
            return outcome
    return "ok"


def _emit(runs: list[Any], outcome: str, error: str | None) -> None:
    from bbmirror.cli_common import scrub

    body = {"outcome": outcome, "runs": [vars(s) for s in runs], "error": error}
    click.echo(scrub(json.dumps(body, indent=2, default=str)))


@friendly
def _sync(
    *, db: str, flags: SourceFlags, full: bool, reconcile: bool, runs: list, debug: bool
) -> None:
    from bbmirror.engine import Options, sync_sources
    from bbmirror.progress import TerminalProgress

    streams = flags.streams()
    sources = flags.sources()
    options = Options(
        full=full,
        reconcile=reconcile,
        only=streams,
        skip=flags.skipped(),
        repos=flags.repos,
        adopt_lister=reconcile,
    )
    progress = TerminalProgress()
    try:
        runs.extend(asyncio.run(sync_sources(db, sources, options, progress=progress)))
    except BaseException as exc:
        runs.extend(getattr(exc, "summaries", []))
        raise
    finally:
        progress.done()
