"""The one-command demo: a simulated Bitbucket that keeps changing, mirrored and served live.

The simulator and Datasette each run on a loopback port in a background thread; the main
thread runs the scheduler (the same one ``bbmirror schedule`` runs), which changes the world
just before each run, so every run brings new pull requests, comments, merges and pushes.
SIGTERM or Ctrl-C cancels the running sync (committed pages stay) and stops both servers.

Choices where the brief is silent: Datasette listens on port 8001, or on a free port when 8001
is taken (``--port 0`` always picks a free one); the source is named ``demo``, reconciles every
tenth run, and may spend a million requests an hour (the simulator sets no limit).
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import uvicorn

from bbmirror.config import Credentials, Secret, Source
from bbmirror.engine import Options, sync_sources
from bbmirror.schedule import run_scheduler
from bbmirror.serve import make_datasette
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, simulator_config
from bbmirror.simulator.cloud.launch import Credentials as SimulatorCredentials
from bbmirror.simulator.cloud.mutate import random_activity
from bbmirror.simulator.cloud.serving import RunningSimulator

DEFAULT_PORT = 8001
START_TIMEOUT = 30.0
GOOD_QUERIES = ("stale_pull_requests", "pr_cycle_time", "sync_freshness")


def run_demo(
    db: str,
    *,
    size: str = "small",
    seed: int = 1,
    every: float = 60.0,
    changes: int = 25,
    cycles: int | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    say: Callable[[str], None] = print,
    issue_tracker_removed: bool = False,
    webhooks: bool = False,
) -> None:
    """Serve a world, mirror it, serve the mirror, then change and re-sync it every `every` s."""
    signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM before the scheduler runs: same as ^C
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    world = generate(seed, size)
    config = simulator_config(world, SimulatorCredentials(token=DEFAULT_TOKEN))
    config.issue_tracker_removed = issue_tracker_removed  # Cloud since 2026-08-20: 410
    rng = random.Random(seed)
    try:
        with RunningSimulator(world, config) as simulator:
            source = Source(
                name="demo",
                base_url=simulator.base_url,
                workspaces=sorted(world.workspaces),
                credentials=Credentials(token=Secret(DEFAULT_TOKEN)),
                budget=1_000_000,
                concurrency=8,
                every=every,
                reconcile_every=10,
            )
            say(f"Simulated Bitbucket Cloud ({size}, seed {seed}) at {simulator.base_url}")
            say(f"Mirroring it into {db} ...")
            say(asyncio.run(sync_sources(db, [source], Options()))[0].line())

            def change_world(_: Source) -> None:
                with simulator.lock:
                    done = random_activity(world, changes, rng)
                kinds = ", ".join(sorted({d.split(" ", 1)[0] for d in done}))
                say(f"world: {len(done)} changes ({kinds}); syncing")

            with DatasetteThread(db, host, port) as web:
                for line in guide(web.url, web.datasette):
                    say(line)
                if webhooks:  # the world tells the mirror by webhook; the poll is rare
                    from bbmirror.webhooks.demo import run_with_webhooks

                    run_with_webhooks(db, source, simulator, every=every, changes=changes,
                                      cycles=cycles, seed=seed, say=say)  # fmt: skip
                else:
                    say(f"Every {every:g}s the world changes and the mirror catches up. "
                        "Ctrl-C stops.")  # fmt: skip
                    sys.stdout.flush()
                    run_scheduler(
                        db, [source], before_run=change_world, first_run=every, runs=cycles
                    )
    except KeyboardInterrupt:
        pass
    say("demo stopped")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def guide(url: str, datasette: Any) -> list[str]:
    """The Datasette URL and a few pages worth opening first."""
    name = datasette.get_database().name
    base = f"{url}/{quote(name)}"
    lines = [
        f"Datasette: {url}/",
        "  Look at:",
        f"  - pull requests, latest activity first: {base}/pullrequests?_sort_desc=updated_on",
        f"  - comments, full-text search:          {base}/comments?_search=fix",
        f"  - the run log, one row per sync:       {base}/sync_runs?_sort_desc=id",
    ]
    queries = list(datasette.metadata("queries", database=name) or {})
    for query in [q for q in GOOD_QUERIES if q in queries] or queries[:2]:
        lines.append(f"  - report {query}: {base}/{quote(query)}")
    boards = list(datasette.plugin_config("datasette-dashboards") or {})
    for board in boards[:1]:
        lines.append(f"  - dashboard {board}: {url}/-/dashboards/{quote(board)}")
    return lines


class DatasetteThread:
    """Datasette on a loopback port in a background thread, as a context manager."""

    def __init__(self, db: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.datasette = make_datasette(db)
        self.sock = _listen(host, port)
        bound_host, bound_port = self.sock.getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> DatasetteThread:
        config = uvicorn.Config(
            self.datasette.app(), log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._main, name="bbmirror-datasette", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            raise OSError(f"Datasette did not start on {self.url}")
        return self

    def _main(self) -> None:
        async def main() -> None:
            await self.datasette.invoke_startup()
            assert self.server is not None
            await self.server.serve(sockets=[self.sock])

        asyncio.run(main())

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(START_TIMEOUT)
        self.sock.close()


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket on `port`, or on a free one when `port` is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.bind((host, 0))
    return sock
