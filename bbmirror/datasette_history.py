"""A history panel on the row pages of a mirror (issue 16), as Datasette hooks.

``datasette_plugin`` imports these hooks, so the ``datasette`` entry point registers them:

- ``register_routes``: ``/-/history/<database>/<table>.json?id=KEY``, a row's versions oldest
  first, each with the row's state after it and its changes as [previous, new]
  (``bbmirror.store.history.states``), under the same permissions as the table.
- ``extra_body_script``: on a mirrored table's row page, a script that fetches that JSON and
  shows it under the row as a table. Values are set as text, never as HTML.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from datasette import Response, hookimpl
from datasette.utils import tilde_decode, tilde_encode

from bbmirror.store import history as h
from bbmirror.store.tables import MIRRORED

ROUTE = r"^/-/history/(?P<database>[^/]+)/(?P<table>[^/]+)\.json$"


def _versions(conn: sqlite3.Connection, table: str, key: str) -> list[dict[str, Any]]:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'row_versions'"
    ).fetchone()
    if not found:
        return []
    out = []
    for item in h.states(conn, table, key):
        changes = {c: [prev, item["state"].get(c)] for c, prev in item["changed"].items()}
        out.append({k: v for k, v in item.items() if k != "changed"} | {"changes": changes})
    return out


async def history_json(datasette: Any, request: Any) -> Response:
    """The versions of one row of a mirror's table, as JSON."""
    from bbmirror.datasette_plugin import mirror_names

    database = tilde_decode(request.url_vars["database"])
    table = tilde_decode(request.url_vars["table"])
    key = request.args.get("id")
    if database not in mirror_names(datasette) or table not in MIRRORED:
        return Response.json({"ok": False, "error": "not a mirrored table"}, status=404)
    if not key:
        return Response.json({"ok": False, "error": "give the row's id as ?id="}, status=400)
    await datasette.ensure_permissions(
        request.actor,
        [("view-table", (database, table)), ("view-database", database), "view-instance"],
    )
    db = datasette.get_database(database)
    versions = await db.execute_fn(lambda conn: _versions(conn, table, key))
    return Response.json({"ok": True, "table": table, "id": key, "versions": versions})


@hookimpl
def register_routes() -> list:
    """Datasette hook: the history JSON route."""
    return [(ROUTE, history_json)]


_PANEL = """
(function () {
  var url = %(url)s;
  function cell(row, text, tag) {
    var c = document.createElement(tag || "td");
    c.textContent = text;
    row.appendChild(c);
    return c;
  }
  function show(v) { return v === null ? "NULL" : JSON.stringify(v); }
  fetch(url).then(function (r) { return r.json(); }).then(function (data) {
    if (!data.ok) { return; }
    var section = document.createElement("section");
    section.className = "bbmirror-history";
    var title = document.createElement("h2");
    title.textContent = "History (" + data.versions.length + " version" +
      (data.versions.length === 1 ? "" : "s") + ")";
    section.appendChild(title);
    var table = document.createElement("table");
    table.className = "rows-and-columns";
    var head = document.createElement("tr");
    ["#", "observed_at", "kind", "run", "changes (previous \\u2192 new)"].forEach(
      function (t) { cell(head, t, "th"); });
    table.appendChild(head);
    data.versions.slice().reverse().forEach(function (v) {
      var row = document.createElement("tr");
      cell(row, String(v.version));
      cell(row, v.observed_at || "");
      cell(row, v.kind);
      cell(row, v.run_id === null ? "" : String(v.run_id));
      var changes = cell(row, "");
      Object.keys(v.changes).forEach(function (c) {
        var line = document.createElement("div");
        line.textContent = c + ": " + show(v.changes[c][0]) + " \\u2192 " + show(v.changes[c][1]);
        changes.appendChild(line);
      });
      table.appendChild(row);
    });
    section.appendChild(table);
    var anchor = document.querySelector("section.content") || document.body;
    anchor.appendChild(section);
  });
})();
"""


@hookimpl
def extra_body_script(
    view_name: str, database: str | None, table: str | None, request: Any, datasette: Any
) -> str | None:
    """Datasette hook: the history panel's script on a mirrored table's row page."""
    from bbmirror.datasette_plugin import mirror_names

    if view_name != "row" or table not in MIRRORED or request is None:
        return None
    if database not in mirror_names(datasette):
        return None
    key = tilde_decode(request.url_vars.get("pks", ""))
    path = datasette.urls.path(f"/-/history/{tilde_encode(database)}/{table}.json")
    url = json.dumps(f"{path}?id={_quote(key)}").replace("</", "<\\/")
    return _PANEL % {"url": url}


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
