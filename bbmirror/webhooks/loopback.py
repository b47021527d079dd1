"""A loopback run of the whole loop, for the slow test and ``scripts/bench-webhooks``.

The simulator serves a world on a loopback port; ``bbmirror serve DB --webhooks`` runs in its
own process (Datasette and the receiver on one address); after each mutation the simulator
delivers its webhooks over real HTTP, and the mirror is compared with the world until they
are equal. Measured: seconds from a mutation to the mirror showing it, and the API requests
the refreshes made per delivery (the simulator's request log).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bbmirror.simulator.cloud import webhooks as cloud_hooks
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, Credentials, simulator_config
from bbmirror.simulator.cloud.oracle import differences
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.cloud.world import World
from bbmirror.simulator.common.webhooks import WebhookSender

SECRET = "loopback-webhook-secret-0123456789"
SOURCE = "cloud"  # what `bbmirror serve` calls a source given by flags


@dataclass
class Measured:
    """What a loopback run saw."""

    seconds: list[float] = field(default_factory=list)  # mutation → mirror equal, each
    deliveries: int = 0
    requests: int = 0  # made by webhook refreshes
    events: int = 0
    late: list[str] = field(default_factory=list)  # mutations never seen (should be none)
    burst: dict = field(default_factory=dict)  # a burst of deliveries: answers and timings


def _sync(db: str, base_url: str, world: World) -> None:
    args = [sys.executable, "-m", "bbmirror", "sync", db, "--base-url", base_url]
    args += ["--budget", "1000000", *[f"--workspace={w}" for w in sorted(world.workspaces)]]
    env = {**os.environ, "BITBUCKET_TOKEN": DEFAULT_TOKEN}
    subprocess.run(args, env=env, capture_output=True, text=True, check=True)


@contextmanager
def serving(db: str, base_url: str, world: World) -> Iterator[str]:
    """``bbmirror serve DB --webhooks`` in its own process; yields its webhook URL."""
    args = [sys.executable, "-m", "bbmirror", "serve", db, "--webhooks", "--port", "0"]
    args += ["--base-url", base_url, "--budget", "1000000"]
    args += [f"--workspace={w}" for w in sorted(world.workspaces)]
    env = {**os.environ, "BITBUCKET_TOKEN": DEFAULT_TOKEN, "BITBUCKET_WEBHOOK_SECRET": SECRET}
    log = open(f"{db}.serve.log", "w")  # noqa: SIM115 - the server's log, kept for reading
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(r"Webhooks at (\S+)", line)
            if found:
                url = found.group(1)
                break
        if url is None:
            raise RuntimeError(f"bbmirror serve --webhooks did not start (exit {proc.poll()})")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def run(
    world: World, db: str, mutations: int, seed: int = 1, deadline: float = 60.0, burst: int = 0
) -> Measured:
    """Mirror ``world``, then mutate it ``mutations`` times, each followed by its webhooks;
    then, with ``burst``, that many deliveries at once (a flood) after 30 more mutations."""
    config = simulator_config(world, Credentials(token=DEFAULT_TOKEN))
    measured = Measured()
    rng = random.Random(seed)
    with RunningSimulator(world, config) as simulator:
        _sync(db, simulator.base_url, world)
        with serving(db, simulator.base_url, world) as url:
            sender = WebhookSender(url, SECRET, seed=seed)
            for n in range(mutations):
                with simulator.lock:
                    before = cloud_hooks.snapshot(world)
                    cloud_hooks.webhook_activity(world, 1, rng)
                    sent = cloud_hooks.events(world, before, simulator.base_url)
                requests = len(simulator.request_log)
                started = time.perf_counter()
                sent_before = sender.sent
                sender.send_blocking(sent)
                while differences(world, db, source=SOURCE):
                    if time.perf_counter() - started > deadline:
                        measured.late.append(f"mutation {n}")
                        break
                    time.sleep(0.02)
                measured.seconds.append(time.perf_counter() - started)
                time.sleep(0.3)  # late and duplicate deliveries land before the next count
                measured.requests += len(simulator.request_log) - requests
                measured.deliveries += sender.sent - sent_before
                measured.events += len(sent)
            if burst:
                measured.burst = _burst(world, db, simulator, url, burst, rng, deadline)
    return measured


def _burst(world: World, db: str, simulator, url: str, n: int, rng, deadline: float) -> dict:  # noqa: ANN001
    """``n`` deliveries of 30 mutations' events (each event many times, each a new delivery)
    sent at once; how long accepting and catching up took, and what was answered."""
    with simulator.lock:
        before = cloud_hooks.snapshot(world)
        cloud_hooks.webhook_activity(world, 30, rng)
        sent = cloud_hooks.events(world, before, simulator.base_url)
    flood = [sent[i % len(sent)] for i in range(n)]
    payloads = Path(f"{db}.burst.json")
    payloads.write_text(json.dumps({"url": url, "events": flood}))
    started = time.perf_counter()
    # Sent from a process of its own, as Bitbucket would: not competing with the simulator.
    done = subprocess.run([sys.executable, "-m", "bbmirror.webhooks.loopback", str(payloads)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    answers = json.loads(done.stdout)
    accepted = time.perf_counter() - started
    guard = time.perf_counter() + 2 * deadline  # against a hang only: the refreshes go on
    while differences(world, db, source=SOURCE) and time.perf_counter() < guard:
        time.sleep(0.05)
    return {
        "deliveries": n,
        "events": len(sent),
        "answers": answers["answers"],
        "errors": answers["errors"],
        "seconds_to_accept": round(accepted, 3),
        "seconds_to_equal": round(time.perf_counter() - started, 3),
        "equal": not differences(world, db, source=SOURCE),
    }


def db_path(folder: str | Path) -> str:
    return str(Path(folder) / "loopback.db")


def _send_burst(path: str) -> None:
    """Send the deliveries in ``path`` all at once; print the answers (the burst's sender)."""
    import httpx

    spec = json.loads(Path(path).read_text())
    events = [tuple(e) for e in spec["events"]]
    sender = WebhookSender(spec["url"], SECRET, late=0, duplicate=0, reorder=0)

    async def send() -> None:
        # A connection per delivery, as Bitbucket sends them: a pooled keep-alive connection the
        # server closes after its idle timeout races a POST on a loaded machine (a lost answer).
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            await sender.send(events, client)  # type: ignore[arg-type]

    asyncio.run(send())
    print(json.dumps({"answers": sender.answers, "errors": sender.errors}))


if __name__ == "__main__":
    _send_burst(sys.argv[1])
