"""The refresh queue and the writer's turn: coalescing, the bound, scheduled runs first."""

from __future__ import annotations

import asyncio

from bbmirror.webhooks.events import PR, PUSH, Target
from bbmirror.webhooks.queue import REPOSITORY, RefreshQueue
from bbmirror.webhooks.turn import scheduled_turn, scheduled_waiting, webhook_turn


def pr(n: int, repo: str = "acme/api") -> Target:
    return Target("cloud", repo, PR, n)


def test_deliveries_for_one_object_coalesce_and_one_arriving_mid_refresh_runs_again():
    queue = RefreshQueue()
    assert [queue.put(pr(1)), queue.put(pr(1)), queue.put(pr(2))] == [
        "queued",
        "coalesced",
        "queued",
    ]
    assert queue.put(Target("cloud", "ACME/API", PR, 1)) == "coalesced"  # names are not cased
    first = queue.take(1)
    assert first == [pr(1)]
    assert queue.put(pr(1)) == "coalesced"  # arrived while it is being refreshed
    queue.done(first[0])
    assert [t.number for t in queue.take(10)] == [2, 1]  # refreshed once more, after the rest


def test_past_the_bound_deliveries_fold_into_their_repository_refresh():
    queue = RefreshQueue(limit=3)
    for n in (1, 2, 3):
        queue.put(pr(n))
    assert queue.put(pr(4)) == "folded"
    assert list(queue.pending.values()) == [Target("cloud", "acme/api", REPOSITORY)]
    assert queue.put(pr(5)) == "coalesced"  # the repository's refresh covers it
    assert queue.put(Target("cloud", "acme/api", PUSH)) == "coalesced"
    assert queue.put(pr(1, "acme/web")) == "queued"  # another repository, under the bound
    assert queue.folded == 1


def test_a_scheduled_run_waits_only_for_the_refresh_in_progress_and_then_goes_first():
    order: list[str] = []

    async def main() -> None:
        db = "/tmp/turn-test.db"

        async def refresh(name: str, hold: float) -> None:
            async with webhook_turn(db):
                order.append(f"{name} start")
                await asyncio.sleep(hold)
                order.append(f"{name} end")

        async def scheduled() -> None:
            await asyncio.sleep(0.01)  # arrives while the first refresh runs
            async with scheduled_turn(db):
                order.append("run start")
                assert not scheduled_waiting(db)
                await asyncio.sleep(0.1)
                order.append("run end")

        async def second_refresh() -> None:
            await asyncio.sleep(0.03)  # wants to go while the run waits or runs
            await refresh("refresh 2", 0)

        await asyncio.gather(refresh("refresh 1", 0.06), scheduled(), second_refresh())

    asyncio.run(main())
    assert order == [
        "refresh 1 start",
        "refresh 1 end",
        "run start",
        "run end",
        "refresh 2 start",
        "refresh 2 end",
    ]


def test_a_scheduled_run_that_finds_the_lock_held_by_a_batch_tries_again(tmp_path):
    """Another process's webhook batch holds the writer lock briefly: the run waits it out."""
    from mirror import Harness

    from bbmirror.engine import Options, sync_sources
    from bbmirror.simulator.cloud.generate import generate
    from bbmirror.simulator.common.transport import SimulatorTransport
    from bbmirror.store.db import Store
    from bbmirror.webhooks.turn import scheduled_run

    mirror = Harness(generate(1, "tiny"), str(tmp_path / "m.db"))
    assert mirror.sync().outcome == "ok"
    batch = Store.open(mirror.db)  # a separate open file: its flock excludes ours, as another
    batch.acquire_writer_lock()  # process's would

    async def main() -> str:
        async def let_go() -> None:
            await asyncio.sleep(0.1)
            batch.close()

        releasing = asyncio.ensure_future(let_go())
        summaries = await scheduled_run(
            mirror.db,
            lambda: sync_sources(
                mirror.db, [mirror.source()], Options(), transport=SimulatorTransport(mirror.app)
            ),  # fmt: skip
            pause=0.2,
        )
        await releasing
        return summaries[0].outcome

    assert asyncio.run(main()) == "ok"
