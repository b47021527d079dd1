"""Dashboard charts built on a report's own SQL, so a chart and its report share one definition.

A chart in metadata.yaml may name a report (``report: dora_lead_time``). Its ``query`` then
continues that report's ``WITH`` list: every CTE of the report is in scope, and so is ``report``,
the report's final SELECT (its rows, filtered by its parameters). The chart's query starts with
``SELECT`` (or with ``, name AS (...)`` to add CTEs of its own). The report's parameters keep
their names (Datasette passes a parameter the page does not set as ''), so a chart computes
exactly what its report computes, aggregated as the chart says.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|/\*.*?\*/|[()]|\bSELECT\b", re.I | re.S)
_RECURSIVE = re.compile(r"\s*WITH\s+(RECURSIVE\s+)?", re.I)


def split(sql: str) -> tuple[str, str, str]:
    """(``WITH`` keyword or '', the CTE list, the final SELECT) of one SQL statement."""
    depth, last = 0, None
    for token in _TOKEN.finditer(sql):
        text = token.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0 and text.upper() == "SELECT":
            last = token.start()
    if last is None:
        raise ValueError("no top-level SELECT")
    head, final = sql[:last], sql[last:].strip()
    keyword = _RECURSIVE.match(head)
    if not keyword:
        return "", "", final
    ctes = head[keyword.end() :].strip().rstrip(",")
    return ("WITH RECURSIVE" if keyword.group(1) else "WITH"), ctes, final


def compose(report_sql: str, chart_query: str) -> str:
    """The chart's SQL: the report's CTEs, ``report`` (its final SELECT), then the chart's."""
    keyword, ctes, final = split(report_sql)
    listed = f"{ctes},\n" if ctes else ""
    return f"{keyword or 'WITH'} {listed}report AS (\n{final}\n)\n{chart_query.strip()}"
