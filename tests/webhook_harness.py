"""Test helpers for webhooks: a mirrored Cloud world, the receiver in-process, the simulator
sending signed deliveries to it through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from dc_mirror import ROOT
from mirror import BASE, Harness

from bbmirror.config import Secret
from bbmirror.simulator.cloud import webhooks as cloud_hooks
from bbmirror.simulator.cloud.world import World
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.common.webhooks import WebhookSender
from bbmirror.simulator.server import webhooks as dc_hooks
from bbmirror.webhooks.receive import create_app
from bbmirror.webhooks.worker import Hub

SECRET = "whsec-test-0123456789abcdef"
URL = "http://mirror.test/-/webhooks/cloud"


@dataclass
class Hooked:
    """A mirrored world, a hub refreshing it, and the receiver the simulator delivers to."""

    mirror: Harness
    secret: str = SECRET
    limit: int | None = None
    sender_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        source = self.mirror.source()
        self.server = source.kind == "server"
        self.hooks, self.base = (dc_hooks, ROOT) if self.server else (cloud_hooks, BASE)
        self.url = URL.replace("/cloud", f"/{source.name}")
        self.hub = Hub(
            self.mirror.db,
            [source],
            secrets={source.name: Secret(self.secret)},
            transport=SimulatorTransport(self.mirror.app),
            client_options={"backoff": 0.001, "max_backoff": 0.01, "retries": 30},
            limit=self.limit,
            rate=0,
        )
        self.app = create_app(self.hub)
        options = {"late": 0.1, "late_max": 0.05, "duplicate": 0.1, "reorder": 0.1}
        options |= {"kind": source.kind, **self.sender_options}
        self.sender = WebhookSender(self.url, SECRET, **options)
        self.keys: list[str] = []  # event keys sent, in order

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.url)

    async def change(self, mutation: Callable[[World], object], client: httpx.AsyncClient) -> int:
        """Apply a mutation, deliver its webhooks, wait for the refreshes; the events sent."""
        world = self.mirror.world
        before = self.hooks.snapshot(world)
        mutation(world)
        sent = self.hooks.events(world, before, self.base)
        self.keys += [key for key, _ in sent]
        await self.sender.send(sent, client)
        assert await self.hub.settled()
        return len(sent)
