"""A pull request's commits from the mirrored commit graph, without asking the API.

Bitbucket lists "the commits that are being merged into the destination branch" (Cloud
reference §3.14): the source commit's ancestors that the destination commit does not reach,
``git log destination..source``. When both commits and everything between them are mirrored,
that set follows from ``commit_parents``; a source that is not mirrored (a fork, a deleted
branch, a squash merge) or a walk that meets a parent the mirror lacks answers None, and the
caller asks the API instead.

The walk is git's: generation numbers (1 + the largest of the parents') order it, so a commit
is taken off the queue only after every child that reaches it, and it stops as soon as every
commit still queued is reachable from the destination. It costs the commits between the two
tips and their merge base, not the repository's history. Flavour-neutral: Cloud and Data
Center both store ``commits`` and ``commit_parents`` keyed ``{repository_id}/{hash}``.
"""

from __future__ import annotations

import bisect
import heapq
import sqlite3
from dataclasses import dataclass, field

SOURCE, DESTINATION = 1, 2


@dataclass
class Graph:
    """One repository's mirrored commits: parents by hash, and generation numbers."""

    parents: dict[str, tuple[str, ...]]
    generation: dict[str, int] = field(default_factory=dict)
    cyclic: set[str] = field(default_factory=set)  # on a parent cycle: never derived from
    hashes: list[str] = field(default_factory=list)  # sorted, for short-hash lookups

    def __post_init__(self) -> None:
        self.hashes = sorted(self.parents)
        self.generation, self.cyclic = _generations(self.parents)

    def resolve(self, short: str | None) -> str | None:
        """The one mirrored hash starting with ``short`` (APIs show 12 characters), or None."""
        if not short or len(short) < 7:
            return None
        short = short.lower()
        at = bisect.bisect_left(self.hashes, short)
        found = self.hashes[at : at + 2]
        matches = [h for h in found if h.startswith(short)]
        return matches[0] if len(matches) == 1 else None


def load(conn: sqlite3.Connection, repository_id: str) -> Graph:
    """The repository's live commits and their parents, in one indexed read."""
    parents: dict[str, list[tuple[int, str]]] = {}
    counts: dict[str, int] = {}
    sql = (
        "SELECT c.hash, c.parent_count, p.parent_hash, p.position FROM commits c"
        " LEFT JOIN commit_parents p ON p.commit_id = c.id AND p.deleted_at IS NULL"
        " WHERE c.repository_id = ? AND c.deleted_at IS NULL"
    )
    for hash_, count, parent, position in conn.execute(sql, (repository_id,)):
        mine = parents.setdefault(hash_, [])
        counts[hash_] = count or 0
        if parent is not None:
            mine.append((position or 0, parent))
    graph = {h: tuple(p for _, p in sorted(ps)) for h, ps in parents.items()}
    broken = [h for h, ps in graph.items() if len(ps) != counts[h]]  # parents not all stored
    for sha in broken:
        graph[sha] = (*graph[sha], "\0missing")
    return Graph(graph)


def _generations(parents: dict[str, tuple[str, ...]]) -> tuple[dict[str, int], set[str]]:
    """1 + the largest generation of a commit's mirrored parents (roots: 1), by an iterative
    depth-first walk; and the commits on a parent cycle, which real history cannot have but
    stored data might (a lying server): a walk that meets one asks the API instead."""
    gen: dict[str, int] = {}
    cyclic: set[str] = set()
    for start in parents:
        if start in gen:
            continue
        path = {start}  # the commits on the current walk from ``start``
        frames = [(start, iter(parents[start]))]
        while frames:
            sha, rest = frames[-1]
            for parent in rest:
                if parent not in parents or parent in gen:
                    continue
                if parent in path:
                    cyclic.update((parent, sha))
                    continue
                path.add(parent)
                frames.append((parent, iter(parents[parent])))
                break
            else:
                frames.pop()
                path.discard(sha)
                gen[sha] = 1 + max((gen[p] for p in parents[sha] if p in gen), default=0)
    return gen, cyclic


def pr_commits(graph: Graph, source: str | None, destination: str | None) -> list[str] | None:
    """``git log destination..source`` (newest generation first), or None when the mirror
    cannot tell: a tip that is not mirrored, or a walk that meets an unmirrored parent."""
    src, dst = graph.resolve(source), graph.resolve(destination)
    if src is None or dst is None:
        return None
    gen = graph.generation
    flags = {src: SOURCE, dst: DESTINATION if dst != src else SOURCE | DESTINATION}
    queue = [(-gen[sha], sha) for sha in {src, dst}]
    heapq.heapify(queue)
    live = sum(1 for sha in flags if flags[sha] == SOURCE)  # queued commits not yet excluded
    found: list[str] = []
    while queue and live:
        _, sha = heapq.heappop(queue)
        flag = flags[sha]
        if flag == SOURCE:
            live -= 1
            found.append(sha)
        if sha in graph.cyclic:
            return None  # a parent cycle (stored data that lies): ask the API
        for parent in graph.parents[sha]:
            if parent not in graph.parents:
                return None  # history the mirror lacks: the list cannot be derived
            before = flags.get(parent)
            after = (before or 0) | flag
            if before == after:
                continue
            flags[parent] = after
            if before is None:
                heapq.heappush(queue, (-gen[parent], parent))
                live += after == SOURCE
            elif before == SOURCE:
                live -= 1  # a queued source-only commit turns out reachable from destination
    return found
