"""bbmirror's reports and Datasette metadata, built from one source: this folder.

- ``NNN-name.sql``: one canned query (report) per file. A leading comment block holds its
  ``title``, ``description`` (indented ``--`` lines continue a value) and ``params`` (the form's
  fields, in order); the rest is the SQL. ``NNN`` orders the reports on the database page;
  ``name`` is the report's URL.
- ``as_of.py``: the reports generated from the history SQL (a table as of a date, what changed
  in a repository), one per table from one definition: read like a file of that name.
- ``metadata.yaml``: the site's title and description, the database's description, every
  table's description, label, sort and facets, and the datasette-dashboards dashboards.

``load_metadata(db_name)`` assembles Datasette's metadata for a database of that name (the
Datasette plugin and ``bbmirror serve`` use it); ``python -m bbmirror.reports`` writes the
top-level ``datasette-metadata.json`` for people who pass ``-m`` to Datasette.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from bbmirror.reports import as_of
from bbmirror.reports.compose import compose

FOLDER = Path(__file__).parent
SHIPPED_DB = "bitbucket"
REPORT_FILE = re.compile(r"^\d+-([a-z][a-z0-9_]*)\.sql$")
FRONT_MATTER_KEYS = ("title", "description", "params")
# A named parameter the way Datasette finds them (``::`` is a cast, not a parameter).
PARAMETER = re.compile(r"(?<!:):([a-z_]+)")


class ReportError(ValueError):
    """A report file or metadata.yaml that would give Datasette wrong or unsafe metadata."""


def read_report(path: Path) -> tuple[str, dict[str, Any]]:
    """(name, canned query) from one ``NNN-name.sql`` file; its front matter must be complete."""
    return parse_report(path.name, path.read_text(encoding="utf-8"))


def parse_report(file_name: str, text: str) -> tuple[str, dict[str, Any]]:
    """(name, canned query) from the text of a report named ``file_name`` (``NNN-name.sql``)."""
    match = REPORT_FILE.match(file_name)
    if not match:
        raise ReportError(f"{file_name}: report files are named NNN-name.sql")
    fields: dict[str, str] = {}
    key = None
    lines = text.splitlines()
    body = next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))
    for line in lines[:body]:
        text = line[2:]
        if text.startswith("   ") and key:  # a continuation of the previous value
            fields[key] += " " + text.strip()
            continue
        key, sep, value = text.strip().partition(":")
        if not sep or key not in FRONT_MATTER_KEYS:
            raise ReportError(f"{file_name}: unknown front matter {text.strip()!r}")
        fields[key] = value.strip()
    missing = [k for k in FRONT_MATTER_KEYS if k not in fields]
    if missing:
        raise ReportError(f"{file_name}: front matter lacks {', '.join(missing)}")
    sql = "\n".join(lines[body:]).strip()
    params = [p.strip() for p in fields["params"].split(",") if p.strip()]
    used = set(PARAMETER.findall(sql))
    if used != set(params):
        raise ReportError(f"{file_name}: params {params} but the SQL uses {sorted(used)}")
    if not fields["title"] or not fields["description"] or not sql:
        raise ReportError(f"{file_name}: empty title, description or SQL")
    query = {"title": fields["title"], "description": fields["description"]}
    return match.group(1), {**query, "params": params, "sql": sql}


def read_reports(folder: Path = FOLDER) -> dict[str, dict[str, Any]]:
    """Every report in the folder and every generated one, in file-name order."""
    texts = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.sql")}
    generated = as_of.reports()
    for file_name in texts.keys() & generated.keys():
        raise ReportError(f"{file_name}: a file for a report that is generated (as_of.py)")
    reports: dict[str, dict[str, Any]] = {}
    for file_name, text in sorted({**texts, **generated}.items()):
        name, query = parse_report(file_name, text)
        if name in reports:
            raise ReportError(f"{file_name}: a second report named {name!r}")
        reports[name] = query
    return reports


def load_metadata(db_name: str = SHIPPED_DB, folder: Path = FOLDER) -> dict[str, Any]:
    """Datasette metadata for a mirror served as ``db_name``: reports, tables, dashboards."""
    source = yaml.safe_load((folder / "metadata.yaml").read_text(encoding="utf-8"))
    database = {**source["database"], "tables": source["tables"]}
    database["queries"] = read_reports(folder)
    dashboards = source["dashboards"]
    for dashboard in dashboards.values():  # every chart and list filter queries this database
        for chart in dashboard["charts"].values():  # a chart on a report runs the report's SQL
            if "report" in chart:
                if chart["report"] not in database["queries"]:
                    raise ReportError(f"a chart is built on {chart['report']!r}: no such report")
                report = database["queries"][chart["report"]]
                chart["query"] = compose(report["sql"], chart["query"])
        for part in [*dashboard["charts"].values(), *dashboard.get("filters", {}).values()]:
            if "query" in part:
                part["db"] = db_name
    return {
        **source["site"],
        "databases": {db_name: database},
        "plugins": {"datasette-dashboards": dashboards},
    }


def render(metadata: dict[str, Any]) -> str:
    """The text of ``datasette-metadata.json`` (stable, so a test can compare it byte for byte)."""
    return json.dumps(metadata, indent=2) + "\n"
