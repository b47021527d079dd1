"""``bbmirror history``: what a mirrored row looked like before, and what changed since a date.

Registered on the ``bbmirror`` group by ``cli.py``. Reading opens the database read-only (it
works while a sync writes); ``--prune-days`` takes the writer lock.
"""

from __future__ import annotations

import json
from typing import Any

import click

from bbmirror.cli_common import Failure, friendly
from bbmirror.rows import RowError, to_utc
from bbmirror.store import Store
from bbmirror.store import history as h
from bbmirror.store.tables import MIRRORED


def _has_history(store: Store) -> bool:
    found = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'row_versions'"
    ).fetchone()
    return found is not None


def _show(value: Any) -> str:
    return "NULL" if value is None else json.dumps(value, ensure_ascii=False)


def _changes(item: dict[str, Any]) -> dict[str, list[Any]]:
    """Each changed column: [previous, new]."""
    return {c: [prev, item["state"].get(c)] for c, prev in item["changed"].items()}


def _row_lines(table: str, key: str, items: list[dict[str, Any]]) -> list[str]:
    lines = [f"{table} {key}: {len(items)} version(s)"]
    for item in items:
        run = f"run {item['run_id']}" if item["run_id"] is not None else "no run"
        lines.append(f"  #{item['version']} {item['observed_at']} {item['kind']} ({run})")
        for column, (prev, new) in _changes(item).items():
            lines.append(f"      {column}: {_show(prev)} -> {_show(new)}")
    return lines


def _since(store: Store, moment: str, table: str | None) -> list[dict[str, Any]]:
    """Versions since ``moment``, each with its changes as [previous, new]."""
    out, cache = [], {}
    for v in h.since(store.conn, moment, table):
        row = (v["table"], v["row_id"])
        if row not in cache:
            cache[row] = {s["version"]: s for s in h.states(store.conn, *row)}
        state = cache[row].get(v["version"])
        changes = _changes(state) if state else {c: [p, None] for c, p in v["changed"].items()}
        out.append({**v, "changes": changes})
    return out


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--table", type=click.Choice(sorted(MIRRORED)), help="A mirrored table.")
@click.option("--key", help="The row's id (with --table), e.g. '{repo-uuid}/pr/12'.")
@click.option("--since", "since_date", help="Every change observed at or after DATE (ISO-8601).")
@click.option(
    "--prune-days",
    type=click.FloatRange(min=0),
    help="Delete versions observed more than N days ago (history is kept forever otherwise).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@friendly
def history(
    db: str,
    table: str | None,
    key: str | None,
    since_date: str | None,
    prune_days: float | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Show the versions of one mirrored row, or every change since a date.

    \b
    Every change of a mirrored row (its flattened columns and its tombstone, not its raw
    json) is kept as a version: when it was observed, by which run, and the previous values.

    \b
    Examples:
      bbmirror history acme.db --table pullrequests --key '{repo-uuid}/pr/12'
      bbmirror history acme.db --since 2026-11-01 --table issues --json
      bbmirror history acme.db --prune-days 365
    """
    if sum(x is not None for x in (key, since_date, prune_days)) != 1:
        raise Failure("give one of --key (with --table), --since DATE or --prune-days N")
    if key is not None and table is None:
        raise Failure("--key needs --table (the key's table, e.g. --table pullrequests)")
    if prune_days is not None:
        with Store.open(db) as store:
            store.acquire_writer_lock()
            with store.transaction():
                gone = h.prune(store.conn, prune_days)
        click.echo(f"pruned {gone} version(s) observed more than {prune_days:g} day(s) ago")
        return
    moment = None
    if since_date is not None:
        try:
            moment = to_utc(since_date)
        except RowError:
            raise Failure(f"--since: not a date: {since_date!r} (use e.g. 2026-11-01)") from None
    with Store.open(db, readonly=True) as store:
        if not _has_history(store):
            raise Failure(f"{db} has no history yet: run `bbmirror sync {db}` once to add it")
        if moment is not None:
            found = _since(store, moment, table)
            if as_json:
                click.echo(json.dumps(found, indent=2))
                return
            for v in found:
                click.echo(f"{v['observed_at']} {v['table']} {v['row_id']} {v['kind']}")
                for column, (prev, new) in v["changes"].items():
                    click.echo(f"    {column}: {_show(prev)} -> {_show(new)}")
            return
        assert table is not None and key is not None
        items = h.states(store.conn, table, key)
        if not items:
            raise Failure(f"{table} has no row {key!r} with history in {db}")
        if as_json:
            click.echo(json.dumps(items, indent=2))
        else:
            click.echo("\n".join(_row_lines(table, key, items)))
