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
- The metadata (reports, table options, dashboards) is built from ``bbmirror/reports`` and
  reaches Datasette through bbmirror's Datasette plugin (``bbmirror/datasette_plugin.py``,
  registered by entry point), keyed to whatever name Datasette gives the file; ``serve`` adds
  nothing to it, so plain ``datasette bitbucket.db`` shows the same site.
- Before serving, the file is opened read-write once (when it is writable) so that an older
  mirror gains the report views of later migrations; a read-only file is served as it is.
- Settings: SQL time limit 3 s (the reports take well under 1 s on a medium mirror; larger
  mirrors get headroom), facet time limit 500 ms, 50 rows a page, 10 values a facet. So that
  one heavy query cannot run away: at most 1,000 rows returned, 2 SQL threads, CSV exports
  capped at 50 MB, a 32 MB page cache per connection, and SQLite's heap capped process-wide at
  ``HEAP_LIMIT`` (``PRAGMA hard_heap_limit``: a query past it fails with "out of memory"
  instead of growing the process). Datasette 0.65 has no memory setting of its own.
- SIGTERM and Ctrl-C stop the server gracefully with exit code 0 (uvicorn would re-raise them).
- Folded ``json``/``*_html`` cells and compact search-all results: see the plugin module.
- Datasette 1.0 alphas read canned queries, plugin settings and table options from
  ``datasette.yaml`` configuration rather than metadata: ``split_config`` moves them there when
  a 1.x Datasette is installed, from the same packaged file.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from bbmirror.reports import SHIPPED_DB, load_metadata

__all__ = ["SHIPPED_DB", "load_metadata"]  # re-exported for scripts that read the reports
PLUGIN_NAME = "bbmirror"  # the entry point's name in pyproject.toml
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
HEAP_LIMIT = 512 * 1024 * 1024  # bytes of SQLite memory per serving process (the plugin)
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
    from datasette.plugins import pm

    if pm.get_plugin(PLUGIN_NAME) is None:
        raise ServeError("bbmirror's Datasette plugin is not installed: pip install -e .")
    path = prepare(db_path) if migrate else Path(db_path).absolute()
    cap_sqlite_memory()
    options: dict[str, Any] = {"settings": {**SETTINGS, **(settings or {})}}
    if datasette_major() >= 1:  # 1.x has no get_metadata hook: hand the plugin's metadata over
        metadata = metadata if metadata is not None else load_metadata(path.stem)
        metadata, config = split_config(metadata)
        options["config"] = config
    return Datasette(files=[str(path)], metadata=metadata, **options)


def cap_sqlite_memory(limit: int = HEAP_LIMIT) -> None:
    """SQLite's heap limit is process-wide: a query past it fails instead of growing."""
    sqlite3.connect(":memory:").execute(f"PRAGMA hard_heap_limit = {limit}").close()


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
    webhooks: Any = None,
    **scheduler_options: Any,
) -> None:
    """Serve the mirror until interrupted; with ``sources``, sync them on schedule meanwhile;
    with ``webhooks`` (a ``bbmirror.webhooks.worker.Hub``), take Bitbucket's deliveries too."""
    path = prepare(db_path, create=bool(sources))
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    ds = make_datasette(path, migrate=False)
    say(f"Serving {path.name} at http://{shown}:{bound}/  (dashboards: /-/dashboards)")
    app, lifespan = ds.app(), "off"
    if webhooks is not None:  # beside Datasette, on its address (bbmirror/webhooks/receive.py)
        from bbmirror.webhooks.receive import create_app, with_webhooks
        from bbmirror.webhooks.serving import urls

        app, lifespan = with_webhooks(app, create_app(webhooks)), "on"
        for url in urls(f"http://{shown}:{bound}", webhooks):
            say(f"Webhooks at {url}")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
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
