"""A world that keeps changing and says so by webhook: ``bbmirror simulate
--webhook-url`` and ``bbmirror demo --webhooks`` run one in a background thread.

Every ``every`` seconds it applies ``changes`` mutations (under the app's world lock, so no
request sees half a change), then delivers the webhooks the change sends (the flavour's
``webhooks.py``: ``snapshot`` and ``events``) with the sender's lateness, duplicates and
reordering. Changes Bitbucket sends no webhook for (Cloud issues, build statuses, settings)
reach the mirror by its poll, as they would from the real Bitbucket.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from bbmirror.simulator.common.webhooks import WebhookSender

log = logging.getLogger("bbmirror.simulator")
Activity = Callable[[Any, int, random.Random], list[str]]


class WebhookActivity:
    """Mutate, then deliver, every ``every`` seconds, until stopped."""

    def __init__(
        self,
        world: Any,
        lock: Any,
        base: str,
        sender: WebhookSender,
        *,
        hooks: Any,  # the flavour's webhooks module: snapshot(world), events(world, before, base)
        activity: Activity,  # the flavour's random_activity
        every: float = 10.0,
        changes: int = 1,
        seed: int = 0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.world, self.lock, self.base, self.sender = world, lock, base, sender
        self.every, self.changes, self.activity = every, changes, activity
        self.rng = random.Random(seed)
        self.hooks = hooks
        self.say = say or log.info
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[str]:
        """One round: mutate, then deliver what it sends."""
        with self.lock:
            before = self.hooks.snapshot(self.world)
            done = self.activity(self.world, self.changes, self.rng)
            sent = self.hooks.events(self.world, before, self.base)
        if sent:
            self.sender.send_blocking(sent)
        kinds = ", ".join(sorted({e for e, _ in sent})) or "none"
        self.say(f"world: {len(done)} changes, {len(sent)} webhooks ({kinds})")
        return done

    def start(self) -> WebhookActivity:
        self._thread = threading.Thread(target=self._run, name="bbmirror-webhooks", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the simulator keeps serving
                self.say(f"world: webhook round failed: {exc!r}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
