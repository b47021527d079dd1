"""What a run may conclude and how it is logged: who listed, failed starts, all-failed runs.

The visibility rule (issue 11.3): losing sight of something is never its deletion.

- A run's *lister identity* is its credential's label and a fingerprint of the credential:
  an HMAC of its Authorization header under a random salt kept with the identity, truncated to
  12 hex digits (it tells two credentials apart; the credential cannot be recovered from it,
  and it costs no request: the preflight no longer asks ``GET /user``, issue 12.2). Anonymous
  is ``anonymous``.
- Each source remembers the identity whose lists it trusts (``sync_state``, scope ``source``,
  stream ``lister``). The first credentialed run sets it.
- Absence from a visibility list (``VISIBILITY_LISTS``: repositories, projects, members)
  tombstones only when the run's identity is that trusted one. An anonymous run never
  tombstones from such a list; a run with another credential does not either, and says so in
  its message. ``sync --reconcile`` with a credential adopts it as the trusted lister (the
  user asked for deletions to be checked again, with this credential's view); automatic and
  scheduled reconciliations never do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bbmirror import skipping
from bbmirror.config import Source
from bbmirror.http import AuthError, BitbucketClient, BitbucketError
from bbmirror.progress import BudgetWaits
from bbmirror.store.db import Store, StoreError, SyncState

if TYPE_CHECKING:
    from bbmirror.engine.base import Engine
    from bbmirror.engine.outcome import Options, Progress, Summary

VISIBILITY_LISTS = frozenset({"repositories", "all_repositories", "projects", "members"})
ANONYMOUS = "anonymous"


def lister_identity(engine: Engine, salt: str) -> str:
    """Who this run lists as: the credential's label and its salted fingerprint (a pool: the
    fingerprint of its sorted set, the same whatever order the credentials are given in)."""
    credentials = engine.source.credentials
    headers = sorted({c.header().get("Authorization", "") for c in engine.source.pool()} - {""})
    if not headers:
        return ANONYMOUS
    mark = hmac.new(salt.encode(), "\n".join(headers).encode(), hashlib.sha256).hexdigest()[:12]
    label = credentials.label if len(headers) == 1 else f"pool of {len(headers)}"
    return f"{label} #{mark}"


def apply_visibility_rule(engine: Engine, store: Store) -> str | None:
    """Blind the engine's visibility lists unless the trusted lister reads them; say why."""
    source = engine.source.name
    state = store.get_state(source, "source", "lister")
    extra = dict(state.extra) if state else {}
    salt = extra.get("salt") or secrets.token_hex(16)
    identity = lister_identity(engine, salt)
    trusted = extra.get("identity")
    if identity != ANONYMOUS and (trusted is None or engine.options.adopt_lister):
        if trusted != identity:
            with store.transaction():
                extra = {"identity": identity, "salt": salt}
                store.put_state(SyncState(source, "source", "lister", extra=extra))
        return None
    if identity == trusted:
        return None
    engine.blind = VISIBILITY_LISTS
    if identity == ANONYMOUS:
        return "read anonymously: what it cannot see is kept, not marked deleted"
    return (
        f"listed with other credentials ({identity}) than the mirror's ({trusted}): what they "
        "cannot see is kept, not marked deleted; `sync --reconcile` adopts them"
    )


def log_failed_start(db_path: str, summary: Summary, options: dict[str, Any]) -> None:
    """Leave a run row for a run that failed before writing, in an existing database only.

    A fresh path is not created just to log a failure: the error line says it, and there is
    no mirror yet to monitor.
    """
    if db_path != ":memory:" and not Path(db_path).expanduser().is_file():
        return
    try:
        store = Store.open(db_path)
    except StoreError:
        return  # unreadable or locked beyond the busy timeout: the error line still says it
    try:
        summary.run_id = store.start_run(summary.source, options)
        store.finish_run(
            summary.run_id, summary.outcome, summary.rows, summary.requests, 0, summary.message
        )
    finally:
        store.close()


def all_failed(answered: int, requests: int, message: str | None) -> str | None:
    """When no request got an answer, say so: the last fault alone hides the scale."""
    if requests == 0 or answered > 0:
        return message
    last = f"; last: {message}" if message else ""
    return f"every request failed ({requests} sent, none answered){last}"


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests the server answered (anything but 5xx and 429: a 404 is an answer),
    to tell runs whose every request failed apart."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.answered = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code < 500 and response.status_code != 429:
            self.answered += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def run_options(options: Any, skipped: Any = ()) -> dict[str, Any]:
    """The run row's options (``skip``: what it left out, dependents included)."""
    found = {"full": options.full, "reconcile": options.reconcile, "only": sorted(options.only)}
    return {**found, "skip": sorted(skipped)} if skipped else found


def reworded(source: Source, exc: Exception) -> Exception:
    """A rejected credential, in the words of the flavour, naming the variables to set."""
    if not isinstance(exc, AuthError) or exc.status != 401:
        return exc
    flavour = "Data Center" if source.kind == "server" else "Cloud"
    label = source.credentials.label
    what = (
        "refused anonymous reading" if label == ANONYMOUS else f"rejected the credentials ({label})"
    )
    return AuthError(
        f"Bitbucket {flavour} at {source.base_url} {what}: check {source.credential_variables()}",
        exc.status,
        exc.url,
    )


def _tell(exc: BaseException, summaries: list[Summary]) -> None:
    """Attach the runs so far, and let the error say what the run's message says."""
    exc.summaries = summaries  # type: ignore[attr-defined]
    message = summaries[-1].message
    if message and message != str(exc):
        exc.args = (message,)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def client_for(source: Source, transport=None, **kwargs) -> BitbucketClient:
    """The source's client; its transport counts answered requests (``client.counting``)."""
    counting = CountingTransport(transport)
    client = BitbucketClient(
        source.base_url,
        source.pool(),
        budget=source.budget,
        concurrency=source.concurrency,
        transport=counting,
        paging="server" if source.kind == "server" else "cloud",
        **kwargs,
    )
    client.counting = counting  # type: ignore[attr-defined]
    return client


async def sync_sources(
    db_path: str,
    sources: list[Source],
    options: Options,
    *,
    transport=None,
    progress: Progress | None = None,
    client_options: dict | None = None,
) -> list[Summary]:
    """Sync every source into one database; a failed preflight leaves only its run row.

    A source's failure is raised as is, carrying ``summaries`` (every run so far, the failed
    one last) so that ``--json`` can still print them.
    """
    from bbmirror.config import require_credentials
    from bbmirror.engine.outcome import Summary, SyncError
    from bbmirror.engine.plan import PlanError
    from bbmirror.flavours.cloud.plan import CLOUD_PLAN
    from bbmirror.flavours.cloud.sync import CloudSync
    from bbmirror.flavours.server.plan import SERVER_PLAN
    from bbmirror.flavours.server.sync import ServerSync

    kinds = {"cloud": (CloudSync, CLOUD_PLAN), "server": (ServerSync, SERVER_PLAN)}
    require_credentials(sources)
    for source in sources:  # before any request: an --only that runs nothing is a mistake
        try:
            kinds[source.kind][1].check_only(options.only)
            skipped = kinds[source.kind][1].check_skip({*options.skip, *source.skip})
            if options.only and not set(options.only) - skipped:
                raise PlanError("--skip leaves nothing of --only to read")
        except PlanError as exc:
            raise SyncError(f"{source.name}: {exc}") from None
    summaries: list[Summary] = []
    store: Store | None = None
    try:
        for source in sources:
            summary = Summary(source=source.name, started_at=now())
            engine_class, plan = kinds[source.kind]
            waiting = BudgetWaits(source.name, source.budget * len(source.pool()), progress)
            options_for_client = {"on_wait": waiting, **(client_options or {})}
            client = client_for(source, transport, **options_for_client)
            async with client:
                engine = engine_class(
                    store,  # type: ignore[arg-type]
                    client,
                    source,
                    plan.streams,
                    options,
                    summary,
                    progress,
                )
                try:
                    await engine.preflight()
                except (SyncError, BitbucketError) as raised:
                    exc = reworded(source, raised)
                    summary.outcome, summary.finished_at = "failed", now()
                    summary.requests = client.requests
                    summary.message = all_failed(
                        client.counting.answered,  # type: ignore[attr-defined]
                        client.requests,
                        str(exc),
                    )
                    if store is None:
                        log_failed_start(db_path, summary, run_options(options))
                    else:
                        summary.run_id = store.start_run(source.name, run_options(options))
                        store.finish_run(summary.run_id, "failed", {}, client.requests, 0,
                                         summary.message)  # fmt: skip
                    summaries.append(summary)
                    _tell(exc, summaries)
                    if exc is raised:
                        raise
                    raise exc from None
                if store is None:
                    store = Store.open(db_path)
                    store.acquire_writer_lock()
                engine.store = store
                try:
                    await run_logged(engine, client)
                except (SyncError, BitbucketError) as exc:
                    summaries.append(summary)
                    _tell(exc, summaries)
                    raise
            summaries.append(summary)
    finally:
        if store is not None:
            store.close()
    return summaries


async def run_logged(engine: Engine, client: BitbucketClient) -> None:
    """Run one source with a run-log row; reconcile on demand or every N runs."""
    from bbmirror.engine.outcome import SyncError

    store, source, summary = engine.store, engine.source, engine.summary
    options = engine.options
    if not options.reconcile and source.reconcile_every:
        runs = store.count("sync_runs", {"source": source.name, "outcome": "ok"})
        if runs and runs % source.reconcile_every == 0:
            engine.options = options = replace(options, reconcile=True)
    summary.reconciled = options.reconcile
    skipped = getattr(engine, "skipped", frozenset())
    summary.run_id = store.start_run(source.name, run_options(options, skipped))
    said = apply_visibility_rule(engine, store)
    said = "; ".join(n for n in (skipping.note(skipped), said) if n) or None  # not errors
    answered = getattr(client, "counting", None)
    try:
        await engine.run()
        summary.outcome = "partial" if summary.errors else "ok"
        if answered is not None and summary.errors:
            summary.message = all_failed(answered.answered, client.requests, summary.message)
    except (SyncError, BitbucketError) as exc:
        summary.outcome = "failed"
        summary.message = str(exc)
        if answered is not None:
            summary.message = all_failed(answered.answered, client.requests, summary.message)
        raise
    except BaseException:
        summary.outcome = "interrupted"
        raise
    finally:
        if said:
            summary.message = f"{summary.message}; {said}" if summary.message else said
        summary.requests = client.requests
        summary.finished_at = now()
        store.finish_run(
            summary.run_id,
            summary.outcome,
            summary.rows,
            summary.requests,
            summary.errors,
            summary.message,
        )
