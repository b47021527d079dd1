"""``bbmirror demo --webhooks``: the world changes by itself every few seconds and tells the
mirror by signed webhook; the schedule polls every ``POLLS`` changes (at least a minute), as a
safety net and for what sends no webhook (issues, build statuses)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bbmirror.config import Secret, Source
from bbmirror.schedule import run_scheduler
from bbmirror.simulator.cloud import webhooks as cloud_hooks
from bbmirror.simulator.common.webhook_loop import WebhookActivity
from bbmirror.simulator.common.webhooks import WebhookSender
from bbmirror.webhooks.receive import PREFIX
from bbmirror.webhooks.worker import Hub

POLLS = 10  # changes per poll


def run_with_webhooks(
    db: str,
    source: Source,
    simulator: Any,
    *,
    every: float,
    changes: int,
    cycles: int | None,
    seed: int,
    say: Callable[[str], None],
) -> None:
    """Serve the receiver, change the world every ``every`` s, poll now and then; block."""
    secret = secrets.token_hex(16)  # the demo's own: nothing to configure
    host = "127.0.0.1"
    port = _free_port(host)
    hub = Hub(str(Path(db).absolute()), [source], secrets={source.name: Secret(secret)})
    url = f"http://{host}:{port}{PREFIX}{source.name}"
    sender = WebhookSender(url, secret, seed=seed)
    rounds = 0

    def counted(world: Any, n: int, rng: Any) -> list[str]:
        nonlocal rounds
        from bbmirror.simulator.cloud.mutate import random_activity

        rounds += 1
        if cycles is not None and rounds > cycles:
            os.kill(os.getpid(), signal.SIGINT)  # the scheduler stops as on Ctrl-C
            return []
        return random_activity(world, n, rng)

    activity = WebhookActivity(
        simulator.world, simulator.lock, simulator.base_url, sender,
        hooks=cloud_hooks, activity=counted, every=every, changes=changes, seed=seed, say=say,
    )  # fmt: skip
    say(f"Webhooks at {url}: every {every:g}s the world changes and tells the mirror.")
    activity.start()
    try:
        poll = max(60.0, POLLS * every)
        run_scheduler(db, [replace(source, every=poll)], webhooks=(hub, host, port), first_run=poll)
    finally:
        activity.stop()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
