"""Webhooks in-process: the simulator delivers signed webhooks to the receiver (httpx ASGI
transport), the worker refreshes through the engine, the mirror equals the world."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from dc_mirror import DcHarness
from dc_mirror import differences as dc_differences
from mirror import Harness, differences
from webhook_harness import SECRET, URL, Hooked

from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud import webhooks as cloud_hooks
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.webhooks import webhook_activity
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.simulator.server.webhooks import webhook_activity as dc_webhook_activity
from bbmirror.status import collect, render
from bbmirror.store.db import Store
from bbmirror.webhooks import status as webhook_status
from bbmirror.webhooks.events import PR, PUSH, Malformed, Target, target
from bbmirror.webhooks.verify import sign, verified

REAL = Path(__file__).parent / "fixtures" / "real" / "webhooks"


@pytest.fixture
def hooked(tmp_path) -> Hooked:
    mirror = Harness(generate(3, "tiny"), str(tmp_path / "m.db"))
    assert mirror.sync().outcome == "ok"
    return Hooked(mirror)


def rows(db: str) -> dict[str, int]:
    """Every mirrored table's rows and tombstones: what 'nothing changed' compares."""
    with Store.open(db, readonly=True) as store:
        names = [
            n
            for (n,) in store.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%'"
                " AND name NOT IN ('sync_state', 'sync_runs', 'schema_migrations')"
            )
        ]
        return {n: store.conn.execute(f"SELECT count(*) FROM [{n}]").fetchone()[0] for n in names}


def test_signature_is_hmac_sha256_of_the_raw_body():
    from bbmirror.config import Secret

    body = b'{"a": 1}'
    header = sign(body, "s3cret")
    assert verified(body, header, Secret("s3cret"))
    assert verified(body, header.upper().replace("SHA256", "sha256"), Secret("s3cret"))
    assert not verified(body + b" ", header, Secret("s3cret"))
    assert not verified(body, header, Secret("other"))
    assert not verified(body, None, Secret("s3cret"))
    assert not verified(body, header.replace("sha256=", "sha1="), Secret("s3cret"))
    assert not verified(body, header, None)


CAPTURED = [
    ("cloud", "cloud/cloud-HookPush.json", "repo:push", PUSH, None),
    ("cloud", "cloud/cloud-HookPullRequestCreated.json", "pullrequest:created", PR, 2),
    ("cloud", "cloud/cloud-HookPullApproved.json", "pullrequest:approved", PR, 2),
    ("cloud", "cloud/cloud-HookPullUnapproved.json", "pullrequest:unapproved", PR, 2),
    (
        "cloud",
        "cloud/cloud-HookPullChangesRequestCreated.json",
        "pullrequest:changes_request_created",
        PR,
        3,
    ),
    ("cloud", "cloud/cloud-HookPullCommentCreated.json", "pullrequest:comment_created", PR, 2),
    ("cloud", "cloud/cloud-HookPullRequestMerged.json", "pullrequest:fulfilled", PR, 1),
    ("cloud", "cloud/cloud-HookPullRequestDeclined.json", "pullrequest:rejected", PR, 2),
    ("server", "server/dc-HookPush.json", "repo:refs_changed", PUSH, None),
    ("server", "server/dc-HookPullRequestOpened.json", "pr:opened", PR, None),
    ("server", "server/dc-HookPullRequestMerged.json", "pr:merged", PR, 111),
]


@pytest.mark.parametrize(("kind", "name", "event", "what", "number"), CAPTURED)
def test_captured_real_deliveries_name_what_to_refresh(kind, name, event, what, number):
    body = json.loads((REAL / name).read_text())
    found = target("src", kind, event, body)
    assert found is not None and found.what == what
    if number is not None:
        assert found.number == number
    assert found.repository.count("/") == 1
    if kind == "server":
        assert body["eventKey"] == event  # Data Center repeats the key in the body


def test_shapes_the_simulator_sends_are_read_like_real_ones(hooked):
    world = hooked.mirror.world
    before = cloud_hooks.snapshot(world)
    rng = random.Random(1)
    webhook_activity(world, 30, rng)
    sent = cloud_hooks.events(world, before, "http://x/2.0")
    assert {e for e, _ in sent} >= {"repo:push", "pullrequest:comment_created"}
    real = json.loads((REAL / "cloud/cloud-HookPullCommentCreated.json").read_text())
    for event, payload in sent:
        assert target("cloud", "cloud", event, payload) is not None
        if event == "pullrequest:comment_created":
            assert set(real) == set(payload)
            assert set(real["comment"]) - set(payload["comment"]) <= {"pending"}


def test_malformed_bodies_are_refused():
    for event, body in [
        ("repo:push", []),
        ("repo:push", {"repository": {"full_name": "no-slash"}}),
        ("pullrequest:created", {"repository": {"full_name": "a/b"}, "pullrequest": {}}),
        ("pullrequest:created", {"repository": {"full_name": "a/b"}, "pullrequest": {"id": "1"}}),
    ]:
        with pytest.raises(Malformed):
            target("cloud", "cloud", event, body)
    with pytest.raises(Malformed):
        target("dc", "server", "pr:opened", {"pullRequest": {"id": 3, "toRef": {}}})
    assert target("cloud", "cloud", "issue:created", {}) is None
    assert target("dc", "server", "diagnostics:ping", {}) is None


def test_the_mirror_equals_the_world_after_each_webhook(hooked):
    """The whole loop, delivery by delivery; and the requests it costs per delivery."""
    rng = random.Random(7)
    log = hooked.mirror.log
    deliveries = 0

    async def main() -> None:
        nonlocal deliveries
        async with hooked.client() as client:
            for _ in range(25):
                sent_before = hooked.sender.sent
                await hooked.change(lambda w: webhook_activity(w, 1, rng), client)
                deliveries += hooked.sender.sent - sent_before
                assert differences(hooked.mirror.world, hooked.mirror.db) == []
        await hooked.hub.stop()

    before = len(log)
    asyncio.run(main())
    spent = len(log) - before
    assert hooked.hub.requests == spent  # every request the refreshes made reached the API
    assert deliveries >= 25 and spent / deliveries <= 5
    with Store.open(hooked.mirror.db, readonly=True) as store:
        saved = webhook_status.deliveries(store.conn, "cloud")
    assert saved is not None and saved["counts"].get("queued", 0) > 0
    assert saved["requests"] == spent
    text = render(collect(hooked.mirror.db))  # what `bbmirror status` prints
    assert "  webhooks      last " in text and f"; {spent} requests" in text
    assert text.count("    fresh as of ") == len(hooked.mirror.world.repositories)


def test_bad_signature_unknown_event_malformed_body_and_replay(hooked):
    """None of them changes the mirror or costs a request; each gets its own answer."""
    world, db = hooked.mirror.world, hooked.mirror.db
    before = cloud_hooks.snapshot(world)
    mutate._op_approve(world, next(iter(world.repositories.values())), random.Random(2)) or (
        webhook_activity(world, 1, random.Random(3))
    )
    (event, payload), *_ = cloud_hooks.events(world, before, "http://x/2.0")
    good = hooked.sender.delivery(event, payload)
    unchanged = rows(db)
    requests = len(hooked.mirror.log)

    async def main() -> list[int]:
        answers = []
        async with hooked.client() as client:
            for headers, body in [
                ({**good.headers, "X-Hub-Signature": sign(good.body, "wrong")}, good.body),
                ({k: v for k, v in good.headers.items() if k != "X-Hub-Signature"}, good.body),
                (good.headers, good.body + b" "),  # the signature covers the exact bytes
            ]:
                answers.append((await client.post(URL, content=body, headers=headers)).status_code)
            for event_key, body in [("repo:fork", b"{}"), ("repo:push", b"{not json"),
                                    ("repo:push", b'{"repository": 1}')]:  # fmt: skip
                headers = {"X-Event-Key": event_key, "X-Hub-Signature": sign(body, SECRET)}
                answers.append((await client.post(URL, content=body, headers=headers)).status_code)
            unsigned_source = URL.replace("/cloud", "/nope")
            answers.append((await client.post(unsigned_source, content=b"{}")).status_code)
            await asyncio.sleep(0.05)
            assert await hooked.hub.settled()
            assert rows(db) == unchanged and len(hooked.mirror.log) == requests
            first = await client.post(URL, content=good.body, headers=good.headers)
            assert await hooked.hub.settled()
            spent = len(hooked.mirror.log)
            again = await client.post(URL, content=good.body, headers=good.headers)
            assert await hooked.hub.settled()
            answers += [first.status_code, again.status_code, len(hooked.mirror.log) - spent]
        await hooked.hub.stop()
        return answers

    answers = asyncio.run(main())
    assert answers == [401, 401, 401, 202, 400, 400, 404, 202, 200, 0]
    assert differences(world, db) == []
    counts = hooked.hub.deliveries.snapshot("cloud")["counts"]
    assert counts == {"rejected": 3, "ignored": 1, "malformed": 2, "queued": 1, "redelivered": 1}
    for path in Path(db).parent.glob(Path(db).name + "*"):  # the database, its WAL
        assert SECRET.encode() not in path.read_bytes()  # the secret never reaches the store


def test_a_burst_of_1000_deliveries_ends_correct_with_nothing_lost(tmp_path):
    """A thousand deliveries in one go (the queue holds 5): folded, coalesced, all refreshed."""
    mirror = Harness(generate(3, "tiny"), str(tmp_path / "m.db"))
    assert mirror.sync().outcome == "ok"
    hooked = Hooked(mirror, limit=5, sender_options={"late": 0, "duplicate": 0, "reorder": 0})
    world = mirror.world
    before = cloud_hooks.snapshot(world)
    webhook_activity(world, 60, random.Random(11))
    sent = cloud_hooks.events(world, before, "http://x/2.0")
    burst = [sent[i % len(sent)] for i in range(1000)]  # redelivered events, new request ids
    keys = {target("cloud", "cloud", e, p).key for e, p in sent}  # type: ignore[union-attr]
    assert len(keys) > 5

    async def main() -> list[int]:
        async with hooked.client() as client:
            deliveries = hooked.sender.plan(burst)
            answers = await asyncio.gather(
                *(client.post(URL, content=d.body, headers=d.headers) for d in deliveries)
            )
            assert await hooked.hub.settled(60)
            after = await client.post(
                URL, content=deliveries[0].body, headers=deliveries[0].headers
            )
            await hooked.hub.stop()
            return [a.status_code for a in answers] + [after.status_code]

    answers = asyncio.run(main())
    assert answers == [202] * 1000 + [200]
    assert differences(world, mirror.db) == []
    assert hooked.hub.queue.folded > 0  # the bound was reached, and nothing was lost
    assert hooked.hub.refreshed < len(burst) / 10  # coalesced: a few dozen refreshes at most


def test_a_repository_the_mirror_does_not_hold_refreshes_nothing(hooked):
    async def main() -> str:
        hub = hooked.hub
        hub.queue.put(Target("cloud", "someone/else", PUSH))
        hub.start()
        assert await hub.settled()
        await hub.stop()
        return next(iter(hub.outcomes))

    before = len(hooked.mirror.log)
    assert asyncio.run(main()) == "not mirrored"
    assert len(hooked.mirror.log) == before


def test_data_center_mirror_equals_the_world_after_each_webhook(tmp_path):
    """The same loop for Data Center: refs_changed walks ranges, pr:* re-reads one PR."""
    mirror = DcHarness(generate_dc(4, "tiny"), str(tmp_path / "dc.db"))
    assert mirror.sync().outcome == "ok"
    hooked = Hooked(mirror)
    rng = random.Random(9)

    async def main() -> None:
        async with hooked.client() as client:
            for _ in range(25):
                await hooked.change(lambda w: dc_webhook_activity(w, 1, rng), client)
                assert dc_differences(mirror.world, mirror.db) == []
        await hooked.hub.stop()

    asyncio.run(main())
    assert {"repo:refs_changed", "pr:comment:added", "pr:opened"} <= set(hooked.keys)
    assert hooked.hub.outcomes.get("refreshed", 0) >= 20


def test_a_pr_of_a_repository_out_of_sight_is_kept_not_tombstoned(hooked):
    """404 for the PR and for its repository is lost sight (engine/runs.py), not a deletion."""
    world, db = hooked.mirror.world, hooked.mirror.db
    repo = next(r for r in world.repositories.values() if r.pullrequests)
    number = next(iter(repo.pullrequests))
    del world.repositories[repo.uuid]  # the credential no longer sees it

    async def main() -> dict[str, int]:
        hooked.hub.queue.put(Target("cloud", repo.full_name, PR, number))
        hooked.hub.start()
        assert await hooked.hub.settled()
        await hooked.hub.stop()
        return hooked.hub.outcomes

    assert asyncio.run(main()) == {"repository not visible": 1}
    with Store.open(db, readonly=True) as store:
        alive = store.conn.execute(
            "SELECT count(*) FROM pullrequests WHERE repository_id = ? AND number = ?"
            " AND deleted_at IS NULL",
            (repo.uuid, number),
        ).fetchone()[0]
    assert alive == 1


def test_late_doubled_and_shuffled_deliveries_of_many_changes_end_equal(tmp_path):
    """Ten changes at once, every delivery late by up to 0.2 s, half of them twice, and the
    order swapped everywhere: the payloads say what to refresh, the API what it is now."""
    mirror = Harness(generate(8, "tiny"), str(tmp_path / "m.db"))
    assert mirror.sync().outcome == "ok"
    options = {"late": 1.0, "late_max": 0.2, "duplicate": 0.5, "reorder": 1.0, "seed": 4}
    hooked = Hooked(mirror, sender_options=options)

    async def main() -> None:
        async with hooked.client() as client:
            count = await hooked.change(lambda w: webhook_activity(w, 10, random.Random(6)), client)
            assert count >= 5  # pushes to one repository share a delivery
        await hooked.hub.stop()

    asyncio.run(main())
    assert differences(mirror.world, mirror.db) == []
    counts = hooked.hub.deliveries.snapshot("cloud")["counts"]
    assert counts.get("redelivered", 0) > 0  # the doubles were recognised and not refreshed
