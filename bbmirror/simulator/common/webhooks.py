"""The simulator's webhook sender: signed deliveries with Bitbucket's headers, late,
duplicated and out of order now and then, as real deliveries are.

Headers (Atlassian, "Event payloads"; captured deliveries in tests/fixtures/real/webhooks/):
Cloud sends ``X-Event-Key``, ``X-Request-UUID`` (one per event; a retry repeats it with the
next ``X-Attempt-Number``), ``X-Hook-UUID`` (the webhook's), ``User-Agent:
Bitbucket-Webhooks/2.0``; Data Center sends ``X-Event-Key`` and ``X-Request-Id``. Both sign
the body in ``X-Hub-Signature: sha256=<hex>`` when the webhook has a secret.

Choices where the documentation is silent (switches on ``WebhookSender``): a delivery is
late with probability ``late`` (by up to ``late_max`` s), sent twice (a retry, same request
id) with probability ``duplicate``, and swapped with the next one with probability
``reorder``. Bitbucket does not promise order, and retries deliveries it thinks failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Delivery:
    """One HTTP POST as Bitbucket would send it."""

    event: str
    body: bytes
    headers: dict[str, str]
    delay: float = 0.0


@dataclass
class WebhookSender:
    """Signs and sends the events of one world to one URL."""

    url: str
    secret: str | None
    kind: str = "cloud"
    seed: int = 0
    late: float = 0.1
    late_max: float = 1.0
    duplicate: float = 0.05
    reorder: float = 0.1
    hook: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent: int = 0
    answers: dict[int, int] = field(default_factory=dict)  # status -> count; 0: no answer
    errors: dict[str, int] = field(default_factory=dict)  # why there was no answer

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def delivery(self, event: str, payload: dict, attempt: int = 1, request: str = "") -> Delivery:
        """One signed delivery of ``payload``."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        request = request or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        headers = {"Content-Type": "application/json", "X-Event-Key": event}
        if self.kind == "server":
            headers |= {"X-Request-Id": request, "User-Agent": "Atlassian HttpClient"}
        else:
            headers |= {
                "X-Request-UUID": request,
                "X-Hook-UUID": self.hook,
                "X-Attempt-Number": str(attempt),
                "User-Agent": "Bitbucket-Webhooks/2.0",
            }
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = f"sha256={digest}"
        return Delivery(event, body, headers)

    def plan(self, events: list[tuple[str, dict]]) -> list[Delivery]:
        """The deliveries for ``events``: some late, some twice, some swapped."""
        planned: list[Delivery] = []
        for event, payload in events:
            first = self.delivery(event, payload)
            if self.rng.random() < self.late:
                first.delay = self.rng.uniform(0.05, self.late_max)
            planned.append(first)
            if self.rng.random() < self.duplicate:
                request = first.headers.get("X-Request-UUID") or first.headers["X-Request-Id"]
                again = self.delivery(event, payload, attempt=2, request=request)
                again.delay = first.delay + self.rng.uniform(0.05, self.late_max)
                planned.append(again)
        for i in range(len(planned) - 1):
            if self.rng.random() < self.reorder:
                planned[i], planned[i + 1] = planned[i + 1], planned[i]
        return planned

    async def send(self, events: list[tuple[str, dict]], client: httpx.AsyncClient) -> None:
        """Deliver ``events`` (late ones after their delay); answers are counted, not checked."""

        async def one(d: Delivery, order: int) -> None:
            await asyncio.sleep(d.delay + order * 0.0001)
            try:
                response = await client.post(self.url, content=d.body, headers=d.headers)
                self.answers[response.status_code] = self.answers.get(response.status_code, 0) + 1
            except httpx.HTTPError as exc:
                self.answers[0] = self.answers.get(0, 0) + 1  # Bitbucket would retry later
                self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
            self.sent += 1

        await asyncio.gather(*(one(d, i) for i, d in enumerate(self.plan(events))))

    def send_blocking(self, events: list[tuple[str, dict]], timeout: float = 10.0) -> None:
        """``send`` from synchronous code (the simulate command, the demo's hook)."""

        async def run() -> None:
            async with httpx.AsyncClient(timeout=timeout) as client:
                await self.send(events, client)

        asyncio.run(run())


def payload_size(payload: Any) -> int:
    return len(json.dumps(payload, separators=(",", ":")))
