"""Random activity for either flavour: a weighted mix of mutations on random repositories."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TypeVar

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
