"""The one commit-graph walk both simulators use: reachability and ``git log`` order."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def ancestors(
    commits: Mapping[str, Any], heads: Iterable[str], stop: set[str] | None = None
) -> set[str]:
    """Every commit reachable from ``heads`` (inclusive) through ``.parents``, not past ``stop``."""
    seen: set[str] = set()
    stack = list(heads)
    while stack:
        sha = stack.pop()
        if sha in seen or (stop and sha in stop) or sha not in commits:
            continue
        seen.add(sha)
        stack.extend(commits[sha].parents)
    return seen


def log_order(
    commits: Mapping[str, Any],
    include: Iterable[str],
    exclude: Iterable[str],
    when: Callable[[str], float],
) -> list[str]:
    """``git log include ^exclude``: newest ``when`` first, children always before parents."""
    reach = ancestors(commits, include, ancestors(commits, exclude))
    waiting = dict.fromkeys(reach, 0)
    for sha in reach:
        for parent in commits[sha].parents:
            if parent in waiting:
                waiting[parent] += 1
    heap = [(-when(sha), sha) for sha, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    out: list[str] = []
    while heap:
        _, sha = heapq.heappop(heap)
        out.append(sha)
        for parent in commits[sha].parents:
            if parent in waiting:
                waiting[parent] -= 1
                if waiting[parent] == 0:
                    heapq.heappush(heap, (-when(parent), parent))
    return out
