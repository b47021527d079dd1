"""The hostile-server suite: a lying proxy in front of the simulator (issue 11, "What it must
show"). Each case lies on one repository's list only, and must end in bounded time with the
database intact, every honestly answered row equal to the world, and the lie named in
``sync_errors`` or in the run's message."""

from __future__ import annotations

import asyncio
import base64
import sqlite3

import pytest
from dc_mirror import DcHarness
from dc_mirror import differences as dc_differences
from lying import Lying, hostile
from mirror import Harness, differences

from bbmirror.config import Credentials, Secret
from bbmirror.engine import Options, Summary, sync_sources
from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.server.generate import generate_dc

BOUND = 60.0  # seconds: a client that would wait for ever fails the test instead
CLIENT = {
    "backoff": 0.001,
    "max_backoff": 0.01,
    "retries": 3,
    "deadline": 0.5,
    "max_body": 1 << 20,
}


def _sync(harness: Harness, proxy: Lying) -> Summary:
    harness.app = proxy
    run = sync_sources(
        harness.db,
        [harness.source()],
        Options(),
        transport=SimulatorTransport(proxy),
        client_options=CLIENT,
    )
    return asyncio.run(asyncio.wait_for(run, BOUND))[0]


def _stored(db: str) -> tuple[str, list[str], str]:
    """(integrity_check, sync_errors reasons + payloads, the last run's outcome and message)."""
    conn = sqlite3.connect(db)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        errors = [f"{r} {p}" for r, p in conn.execute("select reason, payload from sync_errors")]
        run = conn.execute("select outcome, message from sync_runs order by id desc").fetchone()
    finally:
        conn.close()
    return integrity, errors, f"{run[0]}: {run[1]}"


def _cloud(tmp_path, seed: int = 11) -> tuple[Harness, str, str]:
    """A tiny Cloud world, the path regex of one repository's list, and that repository's id."""
    harness = Harness(generate(seed, "tiny"), str(tmp_path / "m.db"))
    repo = max(harness.world.repositories.values(), key=lambda r: len(r.pullrequests))
    return harness, f"/repositories/{repo.full_name}", repo.uuid


def _honest(problems: list[str], excused: str) -> list[str]:
    return [p for p in problems if excused not in p]


def _check(harness: Harness, summary: Summary, rid: str, named: str) -> list[str]:
    integrity, errors, run = _stored(harness.db)
    assert integrity == "ok"
    assert summary.outcome == "partial", run
    assert any(named in e for e in errors), (errors, run)
    assert _honest(differences(harness.world, harness.db, limit=10**6), rid) == []
    return errors


def test_a_foreign_next_link_is_refused_and_named(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "foreign_next", f"{repo}/pullrequests$")
    summary = _sync(harness, proxy)
    _check(harness, summary, rid, "refusing to send credentials to http://evil.example")
    assert "evil.example" not in proxy.hosts


def test_a_trickling_list_fails_within_its_deadline(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "trickle", f"{repo}/pullrequests$")
    summary = _sync(harness, proxy)
    _check(harness, summary, rid, "did not answer in full within 0.5 s")
    assert proxy.told == 2  # tried once more, then named and left


def test_a_hanging_list_fails_within_its_deadline(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "hang", f"{repo}/issues$")
    summary = _sync(harness, proxy)
    _check(harness, summary, rid, "did not answer in full within 0.5 s")


def test_a_huge_page_is_dropped_and_named(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "huge", f"{repo}/pullrequests$")
    summary = _sync(harness, proxy)
    _check(harness, summary, rid, "sent more than 1,048,576 bytes")
    assert proxy.told == 1


def test_a_body_truncated_every_time_is_named_after_retries(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "truncate", f"{repo}/pullrequests$")
    summary = _sync(harness, proxy)
    _check(harness, summary, rid, "invalid JSON")
    assert proxy.told == 1 + 3  # CLIENT retries


def test_an_echoed_basic_authorization_never_reaches_the_database(tmp_path):
    email, password = "ann@example.com", "basic-secret-pass-42"
    pair = f"{email}:{password}"

    class BasicHarness(Harness):
        def make_app(self):
            viewer = viewer_uuid(self.world)
            config = SimulatorConfig(base_url="http://bitbucket.test/2.0")
            config.basic[(email, password)] = viewer
            return create_app(self.world, config)

        def source_values(self) -> dict:
            credentials = Credentials(email=email, api_token=Secret(password))
            return {**super().source_values(), "credentials": credentials}

    harness = BasicHarness(generate(11, "tiny"), str(tmp_path / "m.db"))
    repo = max(harness.world.repositories.values(), key=lambda r: len(r.pullrequests))
    proxy = hostile(harness.app, "echo_auth", f"/repositories/{repo.full_name}/pullrequests$")
    summary = _sync(harness, proxy)
    _check(harness, summary, repo.uuid, "answered HTTP 500: upstream failed; Authorization: ***")
    dump = "\n".join(sqlite3.connect(harness.db).iterdump())
    for leaked in (password, pair, base64.b64encode(pair.encode()).decode()):
        assert leaked not in dump


def test_a_day_long_retry_after_ends_the_run_with_a_clear_message(tmp_path):
    from bbmirror.http import RateLimited

    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "block", f"{repo}/pullrequests$")
    with pytest.raises(RateLimited, match=r"asked to wait 24.0 h .*run again after"):
        _sync(harness, proxy)
    integrity, _, run = _stored(harness.db)
    assert integrity == "ok"
    assert run.startswith("failed: ") and "Retry-After" in run, run
    assert proxy.told == 1  # nothing else asked once the server said "a day"


def test_a_pull_request_list_whose_next_points_to_itself_is_named(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "self_next", f"{repo}/pullrequests$", budget=50)
    summary = _sync(harness, proxy)
    _check(harness, summary, rid, "page loop")


def test_a_commit_list_whose_next_points_to_itself_is_named(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "self_next", f"{repo}/commits$", budget=50)
    summary = _sync(harness, proxy)
    _check(harness, summary, rid, "page loop")


def test_a_data_center_list_whose_next_page_start_creeps_is_named(tmp_path):
    harness = DcHarness(generate_dc(5, "tiny"), str(tmp_path / "m.db"))
    repo = max(harness.world.repositories.values(), key=lambda r: len(r.pull_requests))
    project = harness.world.projects[repo.project_id]
    path = f"/projects/{project.key}/repos/{repo.slug}/pull-requests$"
    proxy = hostile(harness.app, "creep", path)
    summary = _sync(harness, proxy)
    integrity, errors, run = _stored(harness.db)
    assert integrity == "ok"
    assert summary.outcome == "partial", run
    assert any("page loop" in e and "re-serves" in e for e in errors), errors
    assert proxy.told == 3
    rid = f"dc/repo/{repo.id}"
    assert _honest(dc_differences(harness.world, harness.db, limit=10**6), rid) == []


# -- over a real socket: the body cap and the deadline hold when bytes arrive as a stream -----


def _endless(stats: dict, every: float, chunk: bytes):
    """An ASGI app streaming ``chunk`` every ``every`` s until the client goes away."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        sent = 0
        while not gone.is_set() and sent < (1 << 32):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
            await asyncio.sleep(every)
        stats["sent"] = sent
        watcher.cancel()

    return app


async def _get_once(base: str, **options) -> dict:
    from bbmirror.http import BitbucketClient

    async with BitbucketClient(base, retries=0, **options) as client:
        return await client.get("user")


def _served_until_cut(stats: dict) -> int:
    import time

    for _ in range(500):  # wait for the server to notice the client left (no assertion on time)
        if "sent" in stats:
            return stats["sent"]
        time.sleep(0.01)
    raise AssertionError("the server never saw the client leave")


def test_an_endless_body_on_a_real_socket_is_cut_at_the_cap():
    from bbmirror.http import ResponseTooLarge
    from bbmirror.simulator.common.serving import RunningApp

    stats: dict = {}
    with RunningApp(lambda root: _endless(stats, 0, b" " * 65536)) as server:
        with pytest.raises(ResponseTooLarge):
            asyncio.run(asyncio.wait_for(_get_once(server.root, max_body=1 << 20), BOUND))
        sent = _served_until_cut(stats)
    assert sent < 1 << 32  # the client hung up: it never read the 4 GiB the server offered


def test_a_trickle_on_a_real_socket_ends_at_the_deadline():
    from bbmirror.http import DeadlineExceeded
    from bbmirror.simulator.common.serving import RunningApp

    stats: dict = {}
    with RunningApp(lambda root: _endless(stats, 0.05, b" ")) as server:
        with pytest.raises(DeadlineExceeded, match="within 0.5 s"):
            asyncio.run(asyncio.wait_for(_get_once(server.root, deadline=0.5), BOUND))
        sent = _served_until_cut(stats)
    assert 0 < sent < 1 << 32


# -- lies the engine must survive (issue 11.4 and 11.5; fixed on h/engine) -------------------


def _lie_then_tell_the_truth(harness: Harness, proxy: Lying) -> tuple[Summary, Summary]:
    first = _sync(harness, proxy)
    proxy.budget = proxy.told  # from now on the proxy is honest
    return first, _sync(harness, proxy)


def test_a_poisoned_timestamp_is_named_and_never_becomes_the_watermark(tmp_path):
    harness, repo, rid = _cloud(tmp_path)
    proxy = hostile(harness.app, "poison_time", f"{repo}/pullrequests$", budget=1000)
    first, second = _lie_then_tell_the_truth(harness, proxy)
    integrity, errors, run = _stored(harness.db)
    assert integrity == "ok"
    assert first.outcome == "partial" and any("yesterday" in e for e in errors), errors
    assert second.outcome == "ok", run
    assert differences(harness.world, harness.db) == []


def test_a_title_of_the_wrong_type_is_quarantined_not_tombstoned(tmp_path):
    harness = DcHarness(generate_dc(5, "tiny"), str(tmp_path / "m.db"))
    repo = max(harness.world.repositories.values(), key=lambda r: len(r.pull_requests))
    project = harness.world.projects[repo.project_id]
    path = f"/projects/{project.key}/repos/{repo.slug}/pull-requests$"
    proxy = hostile(harness.app, "wrong_type", path, budget=1000)
    first, second = _lie_then_tell_the_truth(harness, proxy)
    integrity, errors, run = _stored(harness.db)
    assert integrity == "ok"
    assert first.outcome == "partial" and errors, run
    assert second.outcome == "ok", run
    assert dc_differences(harness.world, harness.db) == []
