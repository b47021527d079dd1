"""The reports generated from the history SQL: main tables as they were at a date, and what
changed in a repository between two dates.

Their SQL is built per table by ``bbmirror.store.history.as_of_sql`` and
``bbmirror.store.history_changes.report_sql``, so it has one source and no copy on disk:
``read_reports`` reads ``reports()`` as if each were a ``NNN-name.sql`` file beside this module
(``datasette-metadata.json`` shows their SQL).
"""

from __future__ import annotations

from bbmirror.store.history import as_of_sql
from bbmirror.store.history_changes import report_sql

AS_OF: dict[str, str] = {  # table -> report number (orders the reports on the database page)
    "pullrequests": "140",
    "issues": "141",
    "repositories": "142",
    "branches": "143",
}


def report_text(table: str) -> str:
    """One report's text: front matter, then the SELECT."""
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


def reports() -> dict[str, str]:
    """Each generated report's file name (``NNN-name.sql``) and text."""
    out = {f"{n}-{t}_as_of.sql": report_text(t) for t, n in AS_OF.items()}
    out["150-repository_changes.sql"] = f"{CHANGES}\n{report_sql()}\n"
    return out
