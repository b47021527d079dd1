"""The ``*_as_of`` reports: main tables as they were at a date, generated from the history SQL.

``python -m bbmirror.reports.as_of`` rewrites the ``NNN-<table>_as_of.sql`` files beside this
module from ``bbmirror.store.history.as_of_sql``, and ``150-repository_changes.sql`` from
``bbmirror.store.history_changes`` (``--check``: exit 1 if one is stale), then
``python -m bbmirror.reports`` picks them up like any report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bbmirror.store.history import as_of_sql
from bbmirror.store.history_changes import report_sql

FOLDER = Path(__file__).parent
AS_OF: dict[str, str] = {  # table -> report number (orders the reports on the database page)
    "pullrequests": "140",
    "issues": "141",
    "repositories": "142",
    "branches": "143",
}


def report_text(table: str) -> str:
    """One report file: front matter, then the SELECT."""
    return (
        f"-- title: {table.capitalize()} as of a date\n"
        f"-- description: Every {table} row as the mirror knew it at `date` (ISO-8601, e.g.\n"
        "--   2026-11-01 or 2026-11-01T12:00), rebuilt from the current rows and their\n"
        "--   versions (row_versions): rows first seen later or deleted by then are left out.\n"
        "--   Changes are dated by the server's updated_on when it moved, else by the run that\n"
        "--   saw them. `repository_id` (optional) narrows it to one repository.\n"
        "-- params: date, repository_id\n"
        f"\n{as_of_sql(table)}\n"
    )


CHANGES = """-- title: What changed in a repository between two dates
-- description: Every version the mirror kept (row_versions) of the repository's own row and of
--   the rows that belong to it (pull requests, issues, branches, tags, comments...) observed in
--   [`from`, `to`) (ISO-8601 dates; empty means unbounded), newest first: the kind of change,
--   the columns that changed with their previous values, and the run that saw it.
--   `repository` is a full name (workspace/slug) or a repository id.
-- params: repository, from, to
"""


def files() -> dict[Path, str]:
    """Each generated report file and its text."""
    out = {FOLDER / f"{n}-{t}_as_of.sql": report_text(t) for t, n in AS_OF.items()}
    out[FOLDER / "150-repository_changes.sql"] = f"{CHANGES}\n{report_sql()}\n"
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the as-of report files, or check they are current."""
    parser = argparse.ArgumentParser(prog="python -m bbmirror.reports.as_of")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = [p for p, text in files().items() if not p.exists() or p.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.name} is out of date: run python -m bbmirror.reports.as_of")
        return 1 if stale else 0
    for path in stale:
        path.write_text(files()[path], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
