"""The one-command demo: a simulated Bitbucket that keeps changing, mirrored on an interval."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from bbmirror.config import Credentials, Secret, Source
from bbmirror.simulator.generate import generate
from bbmirror.simulator.launch import DEFAULT_TOKEN, simulator_config
from bbmirror.simulator.launch import Credentials as SimulatorCredentials
from bbmirror.simulator.mutate import random_activity
from bbmirror.simulator.server import RunningSimulator
from bbmirror.sync import Options, Summary, sync_sources


def run_demo(
    db: str,
    *,
    size: str = "small",
    seed: int = 1,
    every: float = 60.0,
    changes: int = 25,
    cycles: int | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve a world, mirror it, then mutate and re-sync every `every` seconds."""
    world = generate(seed, size)
    config = simulator_config(world, SimulatorCredentials(token=DEFAULT_TOKEN))
    rng = random.Random(seed)
    with RunningSimulator(world, config) as simulator:
        source = Source(
            name="demo",
            base_url=simulator.base_url,
            workspaces=sorted(world.workspaces),
            credentials=Credentials(token=Secret(DEFAULT_TOKEN)),
            budget=1_000_000,
            concurrency=8,
        )
        say(f"Simulated Bitbucket Cloud ({size}, seed {seed}) at {simulator.base_url}")
        say(f"Mirroring it into {db} ...")
        say(_sync(db, source).line())
        cycle = 0
        while cycles is None or cycle < cycles:
            cycle += 1
            time.sleep(every)
            with simulator.lock:
                done = random_activity(world, changes, rng)
            say(f"world: {len(done)} changes ({', '.join(sorted(set(_kind(d) for d in done)))})")
            say(_sync(db, source).line())


def _sync(db: str, source: Source) -> Summary:
    return asyncio.run(sync_sources(db, [source], Options()))[0]


def _kind(description: str) -> str:
    return description.split(" ", 1)[0]
