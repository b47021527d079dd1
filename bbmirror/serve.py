"""Serve a mirror with Datasette: the bundled metadata, reports, dashboards, search and plugins.

``make_datasette(db)`` builds the Datasette app (tests and the demo use it); ``serve(db, host,
port)`` runs it with uvicorn, optionally with the scheduler keeping the mirror fresh meanwhile.

Choices where the brief is silent:

- Read-only by construction, not by flag: Datasette reads a mutable database through
  ``mode=ro`` connections, so a sync can write while pages are served (WAL), and nothing we
  load can write: arbitrary SQL is allowed (dashboards chart through it) but Datasette accepts
  only SELECT statements there and runs them on read-only connections; the metadata ships no
  writable canned query (``load_metadata`` refuses one), and no write plugin is installed.
  ``immutable`` mode would be faster but would hide a running sync's changes.
- ``bbmirror/datasette-metadata.json`` is the source; the top-level copy is for people running
  plain Datasette, and a test keeps the two identical. It names the database ``bitbucket``
  (the default of ``bbmirror sync``, so ``datasette bitbucket.db -m datasette-metadata.json``
  works as is). Datasette names a database after its file, so at launch the metadata and
  every dashboard chart are re-keyed to the file's stem.
- Before serving, the file is opened read-write once (when it is writable) so that an older
  mirror gains the report views of later migrations; a read-only file is served as it is.
- Settings: SQL time limit 3 s (the reports take well under 1 s on a medium mirror; larger
  mirrors get headroom), facet time limit 500 ms, 50 rows a page, 10 values a facet. So that
  one heavy query cannot run away: at most 1,000 rows returned, 2 SQL threads, CSV exports
  capped at 50 MB, a 32 MB page cache per connection, and SQLite's heap capped process-wide at
  ``HEAP_LIMIT`` (``PRAGMA hard_heap_limit``: a query past it fails with "out of memory"
  instead of growing the process). Datasette 0.65 has no memory setting of its own.
- SIGTERM and Ctrl-C stop the server gracefully with exit code 0 (uvicorn would re-raise them).
- The ``json`` column and Bitbucket's pre-rendered ``*_html`` columns are shown collapsed (a
  ``<details>`` with the pretty-printed or escaped text), so table pages stay readable;
  datasette-pretty-json still formats every other JSON column. datasette-search-all's results
  show a few telling columns per table (``SEARCH_COLUMNS``) instead of every column.
- Datasette 1.0 alphas read canned queries, plugin settings and table options from
  ``datasette.yaml`` configuration rather than metadata: ``split_config`` moves them there when
  a 1.x Datasette is installed, from the same packaged file.
"""

from __future__ import annotations

import contextlib
import copy
import html
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from datasette import hookimpl

PACKAGED = Path(__file__).with_name("datasette-metadata.json")
SHIPPED_DB = "bitbucket"
SETTINGS: dict[str, Any] = {
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 500,
    "default_page_size": 50,
    "default_facet_size": 10,
    "max_returned_rows": 1000,
    "num_sql_threads": 2,
    "max_csv_mb": 50,
    "cache_size_kb": 32_000,
}
HEAP_LIMIT = 512 * 1024 * 1024  # bytes of SQLite memory per serving process
# The columns datasette-search-all shows per searchable table (it would show every column,
# the JSON included, which makes a results page unreadable).
SEARCH_COLUMNS: dict[str, tuple[str, ...]] = {
    "pullrequests": ("number", "title", "repository_id", "author_id", "state", "updated_on"),
    "issues": ("number", "title", "repository_id", "state", "kind", "priority", "updated_on"),
    "comments": ("body", "user_id", "pullrequest_id", "issue_id", "created_on"),
    "commits": ("message", "author_name", "repository_id", "date"),
}
# Table options Datasette 1.x reads from configuration instead of metadata.
TABLE_CONFIG_KEYS = (
    "hidden",
    "sort",
    "sort_desc",
    "size",
    "sortable_columns",
    "label_column",
    "facets",
    "fts_table",
    "fts_pk",
    "searchmode",
    "plugins",
    "allow",
)


class ServeError(Exception):
    """A condition the user must act on (missing database, port in use, bad metadata)."""


def load_metadata(db_name: str = SHIPPED_DB, path: Path = PACKAGED) -> dict:
    """The packaged metadata, re-keyed from ``bitbucket`` to the served database's name."""
    metadata = json.loads(path.read_text(encoding="utf-8"))
    databases = metadata.get("databases", {})
    if SHIPPED_DB in databases and db_name != SHIPPED_DB:
        databases[db_name] = databases.pop(SHIPPED_DB)
    for db in databases.values():
        for name, query in (db.get("queries") or {}).items():
            if isinstance(query, dict) and query.get("write"):
                raise ServeError(f"canned query {name!r} writes; bbmirror serves read-only")
    dashboards = metadata.get("plugins", {}).get("datasette-dashboards", {})
    for dashboard in dashboards.values():
        parts = [*dashboard.get("charts", {}).values(), *dashboard.get("filters", {}).values()]
        for part in parts:
            if part.get("db") == SHIPPED_DB:
                part["db"] = db_name
    return metadata


def split_config(metadata: dict) -> tuple[dict, dict]:
    """Datasette 1.x form: (metadata, config) with queries, plugins and table options in config."""
    metadata = copy.deepcopy(metadata)
    config: dict[str, Any] = {}
    for key in ("plugins", "allow", "allow_sql", "settings"):
        if key in metadata:
            config[key] = metadata.pop(key)
    for db_name, db in metadata.get("databases", {}).items():
        db_config: dict[str, Any] = {}
        for key in ("queries", "plugins", "allow", "allow_sql"):
            if key in db:
                db_config[key] = db.pop(key)
        for table_name, table in db.get("tables", {}).items():
            moved = {k: table.pop(k) for k in TABLE_CONFIG_KEYS if k in table}
            if moved:
                db_config.setdefault("tables", {})[table_name] = moved
        db["tables"] = {name: t for name, t in db.get("tables", {}).items() if t}
        if db_config:
            config.setdefault("databases", {})[db_name] = db_config
    return metadata, config


def datasette_major() -> int:
    """The installed Datasette's major version (0 for 0.65, 1 for the 1.0 alphas)."""
    import datasette.version

    return int(datasette.version.__version__.split(".")[0])


def prepare(db_path: str | Path, *, create: bool = False) -> Path:
    """Check the database exists (or create it), and migrate it when it is writable."""
    from bbmirror.store.db import Store, StoreError

    path = Path(db_path).expanduser().absolute()
    if not path.exists() and not create:
        raise ServeError(f"{path} does not exist; run `bbmirror sync {db_path}` first")
    writable = not path.exists() or all(  # permission bits too: root may write anything
        os.access(p, os.W_OK) and p.stat().st_mode & 0o222 for p in (path, path.parent)
    )
    try:  # a read-only file (or directory) is served as it is
        Store.open(path, readonly=not writable).close()
    except StoreError as exc:
        raise ServeError(str(exc)) from None
    return path


def make_datasette(
    db_path: str | Path,
    *,
    metadata: dict | None = None,
    settings: dict | None = None,
    migrate: bool = True,
) -> Any:
    """A Datasette instance serving ``db_path`` with bbmirror's metadata, reports and plugins."""
    from datasette.app import Datasette

    path = prepare(db_path) if migrate else Path(db_path).absolute()
    register_plugin()
    metadata = metadata if metadata is not None else load_metadata(path.stem)
    options: dict[str, Any] = {"settings": {**SETTINGS, **(settings or {})}}
    if datasette_major() >= 1:
        metadata, config = split_config(metadata)
        options["config"] = config
    return Datasette(files=[str(path)], metadata=metadata, **options)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0 picks a free one), or a one-line ServeError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror}); try --port 0") from None
    sock.listen(128)
    return sock


def serve(
    db_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8001,
    *,
    sources: list | None = None,
    say: Callable[[str], None] = print,
    **scheduler_options: Any,
) -> None:
    """Serve the mirror until interrupted; with ``sources``, sync them on schedule meanwhile."""
    path = prepare(db_path, create=bool(sources))
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    ds = make_datasette(path, migrate=False)
    say(f"Serving {path.name} at http://{shown}:{bound}/  (dashboards: /-/dashboards)")
    config = uvicorn.Config(ds.app(), log_level="warning", access_log=False, lifespan="off")
    server = _QuietServer(config)
    if not sources:
        server.run(sockets=[sock])
        return
    from bbmirror.schedule import SchedulerThread

    names = ", ".join(s.name for s in sources)
    say(f"Syncing {names} on schedule into {path.name}")
    with SchedulerThread(str(path), sources, **scheduler_options):
        server.run(sockets=[sock])


class _QuietServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown; a stopped server exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        caught = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in caught}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# -- this module is also a small Datasette plugin: big JSON and pre-rendered HTML cells fold ---

_FOLDED_SUFFIX = "_html"


@hookimpl
def prepare_connection(conn: Any) -> None:
    """Datasette hook: cap SQLite's memory, so a heavy query fails instead of growing."""
    conn.execute(f"PRAGMA hard_heap_limit = {HEAP_LIMIT}")


@hookimpl(tryfirst=True)
def render_cell(value: Any, column: str, table: str | None) -> Any:
    """Datasette hook: fold ``json`` and ``*_html`` cells of table and row pages."""
    if not isinstance(value, str) or not value or not table:
        return None
    if column == "json":
        try:
            text = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except ValueError:
            return None
        return _folded("JSON", len(value), text)
    if column.endswith(_FOLDED_SUFFIX):
        return _folded("HTML", len(value), value)
    return None


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[Any], Any]:
    """Datasette hook: give datasette-search-all's result requests a compact column list."""

    def wrap(app: Any) -> Any:
        async def compact(scope: dict, receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                scope = _compact_search(scope)
            await app(scope, receive, send)

        return compact

    return wrap


def _compact_search(scope: dict) -> dict:
    """Add ``_col`` to a search-all request (``.json`` with ``_search`` and ``_extra=table``)."""
    path = scope.get("path", "")
    table = path.rsplit("/", 1)[-1].removesuffix(".json")
    columns = SEARCH_COLUMNS.get(table)
    if not columns or not path.endswith(".json"):
        return scope
    args = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "_search" not in args or "table" not in args.get("_extra", []) or "_col" in args:
        return scope
    extra = urlencode([("_col", c) for c in columns]).encode()
    return {**scope, "query_string": scope["query_string"] + b"&" + extra}


def _folded(kind: str, size: int, text: str) -> Any:
    from markupsafe import Markup

    summary = f"{kind}, {size:,} characters"
    body = html.escape(text)
    return Markup(
        f'<details class="bbmirror-folded"><summary>{summary}</summary>'
        f'<pre style="white-space: pre-wrap">{body}</pre></details>'
    )


PLUGIN_NAME = "bbmirror"


def register_plugin() -> None:
    """Register bbmirror's hooks with Datasette's plugin manager (once per process)."""
    from datasette.plugins import pm

    if pm.get_plugin(PLUGIN_NAME) is None:
        pm.register(sys.modules[__name__], name=PLUGIN_NAME)
