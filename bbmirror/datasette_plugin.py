"""bbmirror's Datasette plugin, registered by the ``datasette`` entry point in pyproject.toml.

With bbmirror installed, plain ``datasette bitbucket.db`` (no ``-m``) serves a mirror the way
``bbmirror serve`` does, because both go through these hooks:

- ``get_metadata``: the reports, table descriptions, facets, labels, Markdown rendering and
  the datasette-dashboards dashboards from ``bbmirror/reports``, for every served database
  that is a bbmirror mirror (it has bbmirror's tables), under the name Datasette gave it. The
  dashboards chart the first mirror when several are served. Metadata passed with ``-m``
  still takes precedence, as Datasette gives local metadata precedence over plugins.
- ``render_cell``: the ``json`` and ``*_html`` cells of a mirror's tables are folded.
- ``asgi_wrapper``: datasette-search-all's results show a few telling columns per table.
- ``register_routes``, ``extra_body_script``: a history panel on row pages
  (``bbmirror.datasette_history``, imported here so this entry point registers them).

Other databases served alongside a mirror are left alone.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from datasette import hookimpl

from bbmirror.datasette_history import extra_body_script, register_routes  # noqa: F401 (hooks)
from bbmirror.reports import load_metadata

# The tables that make a database a bbmirror mirror (the reports and dashboards read them).
MIRROR_TABLES = frozenset({"_migrations", "sources", "repositories", "pullrequests", "sync_runs"})
# The columns datasette-search-all shows per searchable table (it would show every column,
# the JSON included, which makes a results page unreadable).
SEARCH_COLUMNS: dict[str, tuple[str, ...]] = {
    "pullrequests": ("number", "title", "repository_id", "author_id", "state", "updated_on"),
    "issues": ("number", "title", "repository_id", "state", "kind", "priority", "updated_on"),
    "comments": ("body", "user_id", "pullrequest_id", "issue_id", "created_on"),
    "commits": ("message", "author_name", "repository_id", "date"),
}
_FOLDED_SUFFIX = "_html"


def mirror_names(datasette: Any) -> list[str]:
    """The served databases that are bbmirror mirrors, in Datasette's order."""
    names = []
    for name, db in datasette.databases.items():
        path = getattr(db, "path", None)
        if not path or getattr(db, "is_memory", False):
            continue
        try:
            stat = os.stat(path)
        except OSError:
            continue
        if _is_mirror(path, stat.st_mtime_ns, stat.st_size):
            names.append(name)
    return names


@lru_cache(maxsize=64)
def _is_mirror(path: str, mtime_ns: int, size: int) -> bool:
    """Whether the file has bbmirror's tables (cached until the file changes)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return {r[0] for r in rows} >= MIRROR_TABLES


@lru_cache(maxsize=16)
def _merged(names: tuple[str, ...]) -> dict[str, Any]:
    """The metadata for these mirror databases (the first one's site and dashboards win)."""
    merged: dict[str, Any] = {}
    for name in reversed(names):
        metadata = load_metadata(name)
        databases = {**metadata.pop("databases"), **merged.get("databases", {})}
        merged = {**metadata, "databases": databases}
    return merged


@lru_cache(maxsize=1024)
def _slice_bytes(
    names: tuple[str, ...], key: str | None, database: str | None, table: str | None
) -> bytes:
    """The part of the metadata one ``Datasette.metadata(key, database, table)`` call can read.

    Datasette calls the hook hundreds of times per page and changes what it gets back (it adds
    ``name`` to canned queries, ``source`` and ``license`` to table metadata), so every call
    gets a fresh copy; copying only the part that call can see keeps a page's cost at what
    local metadata costs.
    """
    full = _merged(names)
    part = {k: v for k, v in full.items() if k not in ("databases", "plugins")}
    tables = full["databases"].get(database, {}).get("tables", {})
    if key is None or (key == "plugins" and "plugins" not in tables.get(table, {})):
        part["plugins"] = full["plugins"]  # a table's own plugin settings hide these
    if key in (None, "databases"):
        part["databases"] = full["databases"]
    elif database in full["databases"]:
        db = full["databases"][database]
        db_part = {k: v for k, v in db.items() if k not in ("tables", "queries")}
        if key == "queries":
            db_part["queries"] = db["queries"]
        if key == "tables":
            db_part["tables"] = db["tables"]
        elif table in db["tables"]:
            db_part["tables"] = {table: db["tables"][table]}
        part["databases"] = {database: db_part}
    return orjson.dumps(part)


@hookimpl(optionalhook=True)  # Datasette 1.x dropped this hook (serve hands metadata over)
def get_metadata(datasette: Any, key: str | None, database: str | None, table: str | None) -> dict:
    """Datasette hook: bbmirror's metadata for every mirror served (a fresh copy each call)."""
    names = tuple(mirror_names(datasette))
    return orjson.loads(_slice_bytes(names, key, database, table)) if names else {}


@hookimpl(tryfirst=True)
def render_cell(
    value: Any, column: str, table: str | None, database: str | None, datasette: Any
) -> Any:
    """Datasette hook: fold ``json`` and ``*_html`` cells of a mirror's table and row pages."""
    if not isinstance(value, str) or not value or not table:
        return None
    if column != "json" and not column.endswith(_FOLDED_SUFFIX):
        return None
    if database not in mirror_names(datasette):
        return None
    if column == "json":
        try:
            text = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except ValueError:
            return None
        return _folded("JSON", len(value), text)
    return _folded("HTML", len(value), value)


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[Any], Any]:
    """Datasette hook: give datasette-search-all's result requests a compact column list."""

    def wrap(app: Any) -> Any:
        async def compact(scope: dict, receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                scope = compact_search(scope, mirror_names(datasette))
            await app(scope, receive, send)

        return compact

    return wrap


def compact_search(scope: dict, mirrors: list[str]) -> dict:
    """Add ``_col`` to a search-all request (``/db/table.json`` with ``_search``, ``_extra``)."""
    path = scope.get("path", "")
    parts = path.strip("/").split("/")
    if len(parts) != 2 or parts[0] not in mirrors or not path.endswith(".json"):
        return scope
    columns = SEARCH_COLUMNS.get(parts[1].removesuffix(".json"))
    if not columns:
        return scope
    args = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "_search" not in args or "table" not in args.get("_extra", []) or "_col" in args:
        return scope
    extra = urlencode([("_col", c) for c in columns]).encode()
    return {**scope, "query_string": scope["query_string"] + b"&" + extra}


def _folded(kind: str, size: int, text: str) -> Any:
    """A collapsed ``<details>`` holding the escaped text, so table pages stay readable."""
    from markupsafe import Markup

    summary = f"{kind}, {size:,} characters"
    body = html.escape(text)
    return Markup(
        f'<details class="bbmirror-folded"><summary>{summary}</summary>'
        f'<pre style="white-space: pre-wrap">{body}</pre></details>'
    )
