"""Files changed by commits, for both flavours' diffs (Cloud diffstat, Data Center diff).

Each commit's file changes come from an rng of its own, seeded by its hash (which the world's
seed made), so every other byte of a world is unchanged and a pushed commit has its changes at
once. A merge commit changes nothing of its own (a clean merge).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

DIRS = ("src", "src/api", "src/core", "lib", "tests", "docs", "web/static", "scripts")
EXTS = ("py", "js", "ts", "md", "json", "yaml", "css", "sql")


@dataclass(frozen=True)
class Change:
    """One file change: ``old`` is None when added, ``new`` None when removed."""

    status: str  # added, removed, modified, renamed
    old: str | None
    new: str | None
    added: int
    removed: int


@lru_cache(maxsize=4096)
def paths(repo_uuid: str) -> tuple[str, ...]:
    """The files a repository's commits touch most, from an rng of the repository's own."""
    rng = random.Random(f"paths/{repo_uuid}")
    count = rng.randint(12, 40)
    names = {f"{rng.choice(DIRS)}/{_word(rng)}.{rng.choice(EXTS)}" for _ in range(count)}
    return tuple(sorted(names))


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))


def _lines(rng: random.Random) -> int:
    """Heavy-tailed: most edits are small, a few are huge (so every size bucket is seen)."""
    return min(int(rng.paretovariate(1.1) * 4) - 3, 3000)


@lru_cache(maxsize=65536)
def commit_changes(repo_uuid: str, sha: str, parents: int) -> tuple[Change, ...]:
    """What one commit changed (see the module docstring); merges change nothing."""
    if parents > 1:
        return ()
    rng = random.Random(f"files/{sha}")
    pool = paths(repo_uuid)
    if rng.random() < 0.003:  # a vendored drop: more files than one diffstat page holds
        return tuple(
            Change("added", None, f"vendor/{sha[:6]}/m{n}.js", rng.randint(5, 80), 0)
            for n in range(rng.randint(501, 620))
        )
    out: list[Change] = []
    used: set[str] = set()
    for n in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6))):
        kind = rng.choices(("modified", "added", "removed", "renamed"), (70, 18, 6, 6))[0]
        path = rng.choice(pool)
        if path in used:
            continue
        used.add(path)
        fresh = f"{path.rsplit('/', 1)[0]}/{_word(rng)}{sha[:4]}{n}.{path.rsplit('.', 1)[1]}"
        if kind == "modified":
            out.append(Change("modified", path, path, _lines(rng), _lines(rng) // 2))
        elif kind == "added":
            out.append(Change("added", None, fresh, _lines(rng) + 1, 0))
        elif kind == "removed":
            out.append(Change("removed", path, None, 0, _lines(rng) + 1))
        else:
            out.append(Change("renamed", path, fresh, _lines(rng) // 3, _lines(rng) // 3))
    return tuple(out)


def fold(changes: list[Change]) -> list[Change]:
    """A range's changes, oldest first, folded per path as ``git diff`` of the range shows
    them: added then removed is nothing, removed then added is modified, a rename chains."""
    state: dict[str, list] = {}  # the path now -> [status, old path, added, removed]
    for c in changes:
        if c.status == "renamed" and c.old in state:
            entry = state.pop(c.old)
            status = entry[0] if entry[0] == "added" else "renamed"
            state[c.new or ""] = [status, entry[1], entry[2], entry[3]]
        key = c.new if c.new is not None else c.old or ""
        entry = state.get(key)
        if entry is None:
            state[key] = [c.status, c.old, c.added, c.removed]
            continue
        entry[2] += c.added
        entry[3] += c.removed
        if c.status == "removed":
            if entry[0] == "added":
                del state[key]
            else:
                entry[0] = "removed"
        elif entry[0] == "removed":
            entry[0] = "modified"
    out = []
    for path, (status, old, added, removed) in sorted(state.items()):
        new = None if status == "removed" else path
        old = None if status == "added" else (old if status == "renamed" else path)
        out.append(Change(status, old, new, added, removed))
    return out
