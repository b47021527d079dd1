"""Random activity for either flavour: a weighted mix of mutations on random repositories."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def pick(rng: random.Random, items: Iterable[T]) -> T | None:
    """One of ``items`` at random, or None when there are none."""
    pool = list(items)
    return rng.choice(pool) if pool else None


def apply_mix(
    world: object, repos: list, operations: Iterable, n: int, rng: random.Random
) -> list[str]:
    """Apply ``n`` of the weighted ``operations`` (op, weight) to random repositories.

    An operation returns a short description, or nothing when it did not apply (it is then
    drawn again, up to 50 tries per wanted mutation). Shared by the Cloud and Server worlds.
    """
    ops, weights = [op for op, _ in operations], [w for _, w in operations]
    done: list[str] = []
    attempts = 0
    while repos and len(done) < n and attempts < 50 * n:
        attempts += 1
        op = rng.choices(ops, weights)[0]
        description = op(world, rng.choice(repos), rng)
        if description:
            done.append(description)
    return done


Op = Callable[[Any, Any, random.Random], str | None]


def on_one(
    candidates: Callable[[Any], Iterable],
    act: Callable[..., Any],
    said: str,
    *,
    with_rng: bool = True,
) -> Op:
    """An operation on one item drawn from ``candidates(repo)``, none to draw: no change.

    It calls ``act(world, repo, item, rng)`` (``act(world, repo, item)`` ``with_rng=False``)
    and describes itself with ``said``, formatted with ``repo``, ``item`` and what ``act``
    returned as ``done``: the common shape of both flavours' mutations, written once.
    """

    def op(world: Any, repo: Any, rng: random.Random) -> str | None:
        item = pick(rng, candidates(repo))
        if item is None:
            return None
        done = act(world, repo, item, rng) if with_rng else act(world, repo, item)
        return said.format(repo=repo, item=item, done=done)

    return op
