"""Test helpers for webhooks: a mirrored Cloud world, the receiver in-process, the simulator
sending signed deliveries to it through httpx's ASGI transport."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from dc_mirror import ROOT
from mirror import BASE, Harness

from bbmirror.config import Secret
from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud import webhooks as cloud_hooks
from bbmirror.simulator.cloud.mutate_issues import delete_comment, edit_comment
from bbmirror.simulator.cloud.world import PullRequest, Repository, World
from bbmirror.simulator.common.mix import apply_mix, pick
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.common.webhooks import WebhookSender
from bbmirror.simulator.server import mutate as dc_mutate
from bbmirror.simulator.server import webhooks as dc_hooks
from bbmirror.webhooks.receive import create_app
from bbmirror.webhooks.worker import Hub

SECRET = "whsec-test-0123456789abcdef"
URL = "http://mirror.test/-/webhooks/cloud"


def _pr_comment_owner(repo: Repository, rng: random.Random) -> PullRequest | None:
    return pick(rng, [pr for pr in repo.pullrequests.values() if pr.comments])


def _op_edit_pr_comment(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pr_comment_owner(repo, rng)
    comment = pr and pick(rng, [c for c in pr.comments if not c.deleted])
    if not comment:
        return None
    edit_comment(world, comment, rng, pr)
    return f"edit comment {comment.id}"


def _op_delete_pr_comment(world: World, repo: Repository, rng: random.Random) -> str | None:
    pr = _pr_comment_owner(repo, rng)
    if pr is None:
        return None
    replied = {c.parent_id for c in pr.comments}
    comment = pick(rng, [c for c in pr.comments if not (c.deleted and c.id in replied)])
    if comment is None:
        return None
    delete_comment(world, pr, comment)
    return f"delete comment {comment.id}"


# The mutations Cloud sends webhooks for (pull requests, their comments and votes, pushes and
# refs); issues, build statuses, renames and settings send none of the events we handle.
WEBHOOK_OPERATIONS = (
    (mutate._op_comment_pr, 20),
    (mutate._op_approve, 7),
    (mutate._op_request_changes, 2),
    (mutate._op_update_pr, 7),
    (mutate._op_open_pr, 5),
    (mutate._op_merge_pr, 5),
    (mutate._op_decline_pr, 1),
    (_op_edit_pr_comment, 4),
    (_op_delete_pr_comment, 2),
    (mutate._op_push, 6),
    (mutate._op_force_push, 1),
    (mutate._op_create_branch, 1),
    (mutate._op_delete_branch, 1),
    (mutate._op_create_tag, 1),
    (mutate._op_delete_tag, 0.5),
)


def webhook_activity(world: World, n: int, rng: random.Random) -> list[str]:
    """``n`` mutations of the kinds Cloud sends webhooks for."""
    return apply_mix(world, list(world.repositories.values()), WEBHOOK_OPERATIONS, n, rng)


# Data Center: everything but build statuses and moving a repository to another project.
DC_WEBHOOK_OPERATIONS = tuple(
    (op, w) for op, w in dc_mutate.OPERATIONS if op not in (dc_mutate._op_build, dc_mutate._op_repo)
)


def dc_webhook_activity(world, n: int, rng: random.Random) -> list[str]:  # noqa: ANN001
    """``n`` mutations of the kinds Data Center sends webhooks for."""
    return apply_mix(world, list(world.repositories.values()), DC_WEBHOOK_OPERATIONS, n, rng)


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
