"""How fresh a mirror is: per source, repository and stream, read from the database alone.

Opens the database read-only, so it answers while a sync writes (WAL readers never wait).

Choices where the brief is silent:

- A stream's ``synced_at`` is when its last complete slice was checkpointed (``sync_state``
  with no resume point); a stream that stopped half-way shows ``resuming`` instead. Streams
  re-listed whole every run (branches, tags...) have no state; their rows show they arrived.
- ``rows`` counts live (not tombstoned) rows per table for each repository.
- Cloud's settings lists (milestones, versions, components, default reviewers) are read on a
  cadence (``settings_every``); their stream rows say how old they are and how often they are
  read (the config's cadence with ``--config``, else the default 24 h).
- An error belongs to a repository when its payload names the repository's path or id;
  otherwise it is the source's. Each level shows its most recent one.
- "Requests in the last hour" sums ``sync_runs.requests`` of runs that finished (or, still
  running, started) within the last hour. The budget is the config's when ``--config`` names
  the source, else Bitbucket Cloud's default of 1000 per hour.
- A run logged as ``running`` whose process no longer exists is reported as abandoned (it was
  killed; what it committed is kept and the next run resumes).
- The last run's ``health`` is ``ok``, ``warning`` (``partial``: it finished but something was
  not read), ``failed`` (also a run that failed before reading anything: bad credentials, a
  429 on the first request), or ``running``/``abandoned``/``interrupted``. ``last_success``
  counts ``ok`` runs only.
- ``backfill``: the per-parent lists a first sync has queued and not yet read, and when they
  are done at the budget (status_backfill.py).
- ``reconcile_only``: what a plain run may miss by design, with the last ``--reconcile`` or
  ``--full`` that read it (Cloud PR tasks: flavours/cloud/rows_tasks.py).
- ``scheduler``: the ``bbmirror schedule`` owning the database (pid, heartbeat), and
  ``stale`` when its heartbeat is older than 10 minutes (stopped or hung).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from bbmirror.config import Source
from bbmirror.skipping import configured
from bbmirror.status_backfill import describe as describe_backfill
from bbmirror.status_backfill import estimate, queued, reconcile_only
from bbmirror.store.db import Store
from bbmirror.store.pidlock import PidLock
from bbmirror.store.schema import TABLES
from bbmirror.webhooks import status as webhook_status

DEFAULT_BUDGET = 1000
DEFAULT_SETTINGS_EVERY = Source().settings_every
SETTINGS = ("milestones", "versions", "components", "default_reviewers", "environments")  # cadence
REPO_TABLES = [t.name for t in TABLES.values() if "repository_id" in t.column_names]


def collect(
    db: str, sources: list[Source] | None = None, *, stale_after: float | None = None
) -> dict[str, Any]:
    """The status report as plain data (what ``--json`` prints)."""
    configured = {s.name: s for s in sources or []}
    store = Store.open(db, readonly=True)
    try:
        conn = store.conn
        names = _source_names(conn) | set(configured)
        cutoff = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="microseconds")
        report = [_source(conn, name, configured.get(name), cutoff) for name in sorted(names)]
    finally:
        store.close()
    owner = _scheduler(store.path, stale_after)
    return {"database": store.path, "scheduler": owner, "sources": report}


def _scheduler(db_path: str, stale_after: float | None) -> dict[str, Any] | None:
    """The scheduler owning the database, if one runs, and whether it still makes progress."""
    from bbmirror.schedule import STALE_AFTER

    stale_after = STALE_AFTER if stale_after is None else stale_after
    holder = PidLock(f"{db_path}.schedule.lock").holder()
    if holder is None:
        return None
    silent = holder.silent_for()
    when = holder.heartbeat
    beat = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds") if when else None
    return {"pid": holder.pid, "heartbeat": beat, "stale": bool(silent and silent > stale_after)}


def _source_names(conn: Any) -> set[str]:
    found: set[str] = set()
    for sql in (
        "SELECT id FROM sources",
        "SELECT DISTINCT source FROM sync_runs",
        "SELECT DISTINCT source FROM repositories",
    ):
        found.update(row[0] for row in conn.execute(sql) if row[0])
    return found


def _source(conn: Any, name: str, config: Source | None, cutoff: str) -> dict[str, Any]:
    row = conn.execute("SELECT kind, base_url FROM sources WHERE id = ?", (name,)).fetchone()
    kind, base_url = row if row else (config.kind if config else None, None)
    if config is not None:
        base_url = config.base_url
    last = conn.execute(
        "SELECT id, started_at, finished_at, outcome, rows, requests, errors, message, pid"
        " FROM sync_runs WHERE source = ? ORDER BY id DESC LIMIT 1",
        (name,),
    ).fetchone()
    success = conn.execute(
        "SELECT max(finished_at) FROM sync_runs WHERE source = ? AND outcome = 'ok'",
        (name,),
    ).fetchone()[0]
    used = conn.execute(
        "SELECT coalesce(sum(requests), 0), count(*) FROM sync_runs"
        " WHERE source = ? AND coalesce(finished_at, started_at) >= ?",
        (name, cutoff),
    ).fetchone()
    errors = _errors(conn, name)
    repos = _repositories(conn, name, errors)
    every = config.settings_every if config else DEFAULT_SETTINGS_EVERY
    for repo in repos:  # read on a cadence (flavours/cloud/cadence.py): their age shows
        for entry in repo["streams"]:
            if entry["stream"] in SETTINGS:
                entry["every"] = every
    budget = config.budget if config else DEFAULT_BUDGET
    claimed = {id(e) for r in repos for e in r.pop("_errors")}
    loose = [e for e in errors if id(e) not in claimed]
    return {
        "name": name,
        "kind": kind,
        "base_url": base_url,
        "last_run": _run(last) if last else None,
        "last_success": success,
        "runs": conn.execute("SELECT count(*) FROM sync_runs WHERE source = ?", (name,)).fetchone()[
            0
        ],
        "requests_last_hour": used[0],
        "runs_last_hour": used[1],
        "budget": budget,
        "backfill": estimate(queued(conn, name), budget),  # what a first sync still reads
        "budget_from": "config" if config else "default",
        "errors": len(errors),
        "last_error": _public(errors[0]) if errors else None,
        "last_source_error": _public(loose[0]) if loose else None,
        # What the last run could not read (a narrow credential, refs missing): engine/policy.py
        "skipped": [
            f"{e['stream']}: {e['reason']}"
            for e in errors
            if last and e["run_id"] == last[0] and e["reason"].startswith("skipped:")
        ]
        + configured(conn, last[0] if last else None),
        "repositories": repos,
        "webhooks": webhook_status.deliveries(conn, name),
        "reconcile_only": reconcile_only(conn, name, kind),
    }


def _run(row: tuple) -> dict[str, Any]:
    run_id, started, finished, outcome, rows, requests, errors, message, pid = row
    counts = json.loads(rows) if rows else {}
    run = {
        "id": run_id,
        "started_at": started,
        "finished_at": finished,
        "outcome": outcome,
        "rows": sum(counts.values()),
        "requests": requests or 0,
        "errors": errors or 0,
        "message": message,
        "pid": pid,
    }
    if outcome == "running":
        run["abandoned"] = not _alive(pid)
    run["health"] = HEALTH.get(outcome, outcome)
    if run.get("abandoned"):
        run["health"] = "abandoned"
    return run


HEALTH = {"ok": "ok", "partial": "warning", "failed": "failed"}


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _errors(conn: Any, source: str) -> list[dict[str, Any]]:
    """The source's quarantined records, newest first."""
    rows = conn.execute(
        "SELECT id, run_id, stream, reason, payload, created_at FROM sync_errors"
        " WHERE source = ? ORDER BY id DESC",
        (source,),
    )
    keys = ("id", "run_id", "stream", "reason", "payload", "created_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _public(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k != "payload"}


def _repositories(conn: Any, source: str, errors: list[dict]) -> list[dict[str, Any]]:
    repos = conn.execute(
        "SELECT id, full_name, deleted_at FROM repositories WHERE source = ? ORDER BY full_name",
        (source,),
    ).fetchall()
    counts: dict[str, dict[str, int]] = {r[0]: {} for r in repos}
    for table in REPO_TABLES:
        sql = (
            f"SELECT repository_id, count(*) FROM [{table}] WHERE source = ?"
            " AND deleted_at IS NULL GROUP BY repository_id"
        )
        for repo_id, n in conn.execute(sql, (source,)):
            if repo_id in counts and n:
                counts[repo_id][table] = n
    states: dict[str, list[dict[str, Any]]] = {}
    removed: set[str] = set()  # repositories whose Cloud issue tracker answered 410
    for scope, stream, watermark, resume, updated, heads, extra in conn.execute(
        "SELECT scope, stream, watermark, resume, updated_at, heads, extra FROM sync_state"
        " WHERE source = ?"
        " ORDER BY stream",
        (source,),
    ):
        if stream == "issue_tracker":
            if extra and json.loads(extra).get("removed"):
                removed.add(scope)
            continue
        states.setdefault(scope, []).append(
            {
                "stream": stream,
                "synced_at": None if resume else updated,
                "watermark": watermark,
                "heads": len(json.loads(heads)) if heads else 0,
                "resuming": resume is not None,
                "last_error": None,
            }
        )
    out = []
    for repo_id, full_name, deleted_at in repos:
        mine = [e for e in errors if _mentions(e["payload"], repo_id, full_name)]
        streams = states.get(repo_id, [])
        for entry in streams:
            hit = next((e for e in mine if e["stream"].endswith(entry["stream"])), None)
            entry["last_error"] = _public(hit) if hit else None
        out.append(
            {
                "id": repo_id,
                "full_name": full_name,
                "deleted": deleted_at is not None,
                "tracker_removed": repo_id in removed,
                "rows": counts[repo_id],
                "streams": streams,
                "fresh_as_of": webhook_status.fresh_as_of(streams),
                "last_error": _public(mine[0]) if mine else None,
                "_errors": mine,
            }
        )
    return out


def _mentions(payload: str | None, repo_id: str, full_name: str | None) -> bool:
    text = payload or ""
    return repo_id in text or bool(full_name and f"repositories/{full_name}/" in text)


# -- the readable table -------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    """The report as aligned text for a terminal."""
    lines = [f"{report['database']}"]
    owner = report.get("scheduler")
    if owner and owner["stale"]:
        lines.append(
            f"  WARNING: its scheduler (pid {owner['pid']}) has made no progress since "
            f"{_t(owner['heartbeat'])} UTC: stopped or hung"
        )
    elif owner:
        lines.append(f"  kept fresh by bbmirror schedule (pid {owner['pid']})")
    if not report["sources"]:
        lines.append("  nothing synced yet: run `bbmirror sync` or `bbmirror schedule`")
    for src in report["sources"]:
        lines += ["", _heading(src)]
        lines.append(f"  last run      {_describe_run(src['last_run'])}")
        lines.append(f"  last success  {_t(src['last_success'])}")
        note = " (default; give --config for yours)" if src["budget_from"] == "default" else ""
        lines.append(
            f"  requests      {src['requests_last_hour']} in the last hour"
            f" of a {src['budget']}/hour budget{note}"
        )
        err = src["last_error"]
        lines.append(
            f"  errors        {src['errors']} quarantined"
            + (f"; last {_describe_error(err)}" if err else "")
        )
        if backfill := describe_backfill(src.get("backfill"), src["budget"]):
            lines.append(f"  backfill      {backfill}")
        if hooks := webhook_status.describe(src.get("webhooks")):
            lines.append(f"  webhooks      {hooks}")
        for skipped in src["skipped"]:
            lines.append(f"  skipped       {skipped}")
        for gap in src.get("reconcile_only", ()):
            lines.append(f"  reconcile     {gap}")
        for repo in src["repositories"]:
            lines += ["", *_repository(repo)]
    return "\n".join(lines)


def _heading(src: dict[str, Any]) -> str:
    extra = ", ".join(x for x in (src["kind"], src["base_url"]) if x)
    return f"{src['name']}" + (f" ({extra})" if extra else "")


def _describe_run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    outcome = run["outcome"]
    if run.get("abandoned"):
        outcome = f"abandoned (pid {run['pid']} is gone; the next run resumes)"
    elif outcome == "running":
        outcome = f"running (pid {run['pid']})"
    elif outcome == "partial":
        outcome = "WARNING partial (finished, but something was not read)"
    elif outcome == "failed":
        outcome = "FAILED"
    when = _t(run["finished_at"] or run["started_at"])
    text = f"#{run['id']} {outcome}, {when}: {run['rows']} rows, {run['requests']} requests"
    return text + (f" ({run['message']})" if run["message"] else "")


def _describe_error(err: dict[str, Any]) -> str:
    return f"{_t(err['created_at'])} {err['stream']}: {err['reason']}"


def _repository(repo: dict[str, Any]) -> list[str]:
    gone = " (deleted upstream)" if repo["deleted"] else ""
    out = [f"  {repo['full_name']}{gone}", "    rows:"]
    for item in [f"{t} {n}" for t, n in sorted(repo["rows"].items())] or ["none"]:
        if len(out[-1]) + len(item) > 96:
            out[-1] += ","
            out.append("         ")
        elif not out[-1].endswith(":"):
            out[-1] += ","
        out[-1] += f" {item}"
    if repo.get("fresh_as_of"):
        out.append(f"    fresh as of {_t(repo['fresh_as_of'])} UTC")
    if repo["streams"]:
        out.append(f"    {'stream':<18}{'synced':<22}{'watermark':<22}error")
        for s in repo["streams"]:
            synced = "resuming" if s["resuming"] else _t(s["synced_at"])
            error = _describe_error(s["last_error"]) if s["last_error"] else ""
            mark = _t(s["watermark"]) if s["watermark"] or not s["heads"] else f"{s['heads']} refs"
            if "every" in s:
                mark = f"{_age(s['synced_at'])} old, every {s['every'] / 3600:g} h"
            out.append(f"    {s['stream']:<18}{synced:<22}{mark:<22}{error}".rstrip())
    if repo["tracker_removed"]:
        out.append(
            "    issue tracker removed upstream (410): issues kept as mirrored; "
            "asked again on --full or --reconcile"
        )
    if repo["last_error"]:
        out.append(f"    last error: {_describe_error(repo['last_error'])}")
    return out


def _age(stamp: str | None) -> str:
    """How long ago ``stamp`` was, to the minute (hours past two hours)."""
    if not stamp:
        return "never read,"
    minutes = (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds() // 60
    return f"{minutes / 60:.0f} h" if minutes >= 120 else f"{minutes:.0f} min"


def _t(stamp: str | None) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM:SS' UTC, or '-'."""
    return stamp[:19].replace("T", " ") if stamp else "-"
