"""Time garbage collection (``Store.tombstone_unreachable``) on a `large`-sized mirror.

By default builds a synthetic database of the `large` world's size (24 repositories, ~80,000
commits in branching DAGs, 20,000 pull requests pointing at commits by 12-character
prefixes), in seconds. ``--world SIZE`` instead mirrors the simulator's generated world of that
size in-process (cached as bench-results/gc-SIZE.db; `large` takes several minutes) and
collects with only each repository's first branch as a head. Either way it times, per
repository, the old root join (``substr(c.hash, 1, length(r.short)) = r.short``, parents by
``commit_id``) and today's primary-key ranges on copies of the same file, and checks that both
tombstone the same commits. Run through scripts/bench-gc. Prints a table and writes
bench-results/gc.json (or gc-SIZE.json).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from bbmirror.store.db import Store
from bbmirror.store.tombstones import unreachable_sql

OUT = Path("bench-results")
WHEN = "2026-11-29T00:00:00+00:00"

# The joins before key ranges (issue 11): a prefix scan per PR root and a parent lookup by
# commit_id, timed in the same statement frame as today's (tombstones.unreachable_sql).
OLD_SQL = unreachable_sql(
    """commits c JOIN pr_roots r
  ON c.repository_id = :repo AND substr(c.hash, 1, length(r.short)) = r.short""",
    """commit_parents p JOIN reach r ON p.commit_id = :repo || '/' || r.hash""",
)


def build(path: Path, repos: int, commits: int, prs: int, seed: int) -> dict[str, list[str]]:
    """A synthetic mirror; returns each repository's heads (its branch tips minus a few)."""
    rng = random.Random(seed)
    heads: dict[str, list[str]] = {}
    with Store.open(path) as store:
        for r in range(repos):
            repo = f"{{bench-repo-{r:02d}}}"
            hashes: list[str] = []
            tips: dict[str, str] = {}
            commit_rows, parent_rows = [], []
            for i in range(commits // repos):
                sha = f"{rng.getrandbits(160):040x}"
                parents = []
                if tips:
                    parents.append(tips["main"])
                    branch = rng.choice(["main", "main", "main", "f1", "f2", "f3", "f4"])
                    if branch != "main" and branch in tips:
                        parents = [tips[branch]]
                    if rng.random() < 0.05 and len(tips) > 1:  # a merge (f4 never merges)
                        parents.append(rng.choice([t for b, t in tips.items() if b != "f4"]))
                else:
                    branch = "main"
                tips[branch] = sha
                if branch != "f4":  # f4 is force-pushed away below: no PR points into it
                    hashes.append(sha)
                cid = f"{repo}/{sha}"
                commit_rows.append(
                    {"id": cid, "source": "bench", "repository_id": repo, "hash": sha,
                     "message": f"commit {i}", "parent_count": len(parents), "json": "{}"}
                )  # fmt: skip
                for position, parent in enumerate(dict.fromkeys(parents)):
                    parent_rows.append(
                        {"id": f"{cid}/parent/{position}", "source": "bench", "commit_id": cid,
                         "repository_id": repo, "parent_hash": parent,
                         "parent_id": f"{repo}/{parent}", "position": position, "json": "{}"}
                    )  # fmt: skip
            pr_rows = []
            for n in range(1, prs // repos + 1):
                merged = rng.random() < 0.6
                pr_rows.append(
                    {"id": f"{repo}/pr/{n}", "source": "bench", "repository_id": repo,
                     "number": n, "state": "MERGED" if merged else "OPEN",
                     "source_commit": rng.choice(hashes)[:12],
                     "destination_commit": rng.choice(hashes)[:12],
                     "merge_commit": rng.choice(hashes)[:12] if merged else None, "json": "{}"}
                )  # fmt: skip
            with store.transaction():
                store.write(
                    {"commits": commit_rows, "commit_parents": parent_rows, "pullrequests": pr_rows}
                )
            # A force-push: one feature branch's tip is no longer a head.
            heads[repo] = sorted(tip for name, tip in tips.items() if name != "f4")
    return heads


def mirrored(size: str, seed: int) -> tuple[Path, dict[str, list[str]]]:
    """A mirror of the generated world (synced in-process once, then cached) and, per
    repository, one head: its first branch, so that garbage collection has work to do."""
    import asyncio

    from benchlib import served_cloud

    from bbmirror.engine import Options, sync_sources
    from bbmirror.simulator.common.transport import SimulatorTransport

    db = OUT / f"gc-{size}.db"
    if not db.exists():
        OUT.mkdir(exist_ok=True)
        _, app, source = served_cloud(seed, size, "bench-gc-token-0123456789")
        transport = SimulatorTransport(app)
        asyncio.run(sync_sources(str(db), [source], Options(), transport=transport))
    conn = sqlite3.connect(db)
    heads = {
        repo: [r[0] for r in conn.execute(
            "select target_hash from branches where repository_id = ? and deleted_at is null"
            " order by name limit 1", (repo,))]
        for (repo,) in conn.execute("select id from repositories")
    }  # fmt: skip
    conn.close()
    return db, heads


def timed(db: Path, heads: dict[str, list[str]], old: bool) -> tuple[list[float], set[str]]:
    """Seconds per repository and the ids tombstoned."""
    seconds = []
    with Store.open(db) as store:
        for repo, tips in heads.items():
            start = time.perf_counter()
            if old:
                args = {"when": WHEN, "repo": repo, "heads": json.dumps(tips)}
                with store.transaction():
                    store.conn.execute(OLD_SQL, args)
            else:
                store.tombstone_unreachable(repo, tips, WHEN)
            seconds.append(time.perf_counter() - start)
        gone = {
            r[0] for r in store.conn.execute("select id from commits where deleted_at is not null")
        }
    return seconds, gone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=24)
    parser.add_argument("--commits", type=int, default=80_000)
    parser.add_argument("--prs", type=int, default=20_000)
    parser.add_argument("--old-repos", type=int, default=2, help="repositories timed the old way")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--world", help="mirror this generated world size instead (e.g. large)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "gc.db"
        started = time.perf_counter()
        if args.world:
            cached, heads = mirrored(args.world, args.seed)
            shutil.copy(cached, base)
        else:
            heads = build(base, args.repos, args.commits, args.prs, args.seed)
        built = time.perf_counter() - started
        new_db, old_db = Path(tmp) / "new.db", Path(tmp) / "old.db"
        shutil.copy(base, new_db)
        shutil.copy(base, old_db)
        new_seconds, new_gone = timed(new_db, heads, old=False)
        old_heads = dict(list(heads.items())[: args.old_repos])
        old_seconds, old_gone = timed(old_db, old_heads, old=True)
        same = {i for i in new_gone if i.split("/", 1)[0] in old_heads} == old_gone
        conn = sqlite3.connect(base)
        size = {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("commits", "commit_parents", "pullrequests")}  # fmt: skip
    result = {
        "size": size,
        "build_seconds": round(built, 1),
        "new_total_seconds": round(sum(new_seconds), 3),
        "new_max_repo_seconds": round(max(new_seconds), 3),
        "old_repos_timed": len(old_seconds),
        "old_mean_repo_seconds": round(sum(old_seconds) / max(1, len(old_seconds)), 3),
        "old_total_seconds_estimated": round(
            sum(old_seconds) / max(1, len(old_seconds)) * len(heads), 1
        ),
        "tombstoned": len(new_gone),
        "same_result": same,
    }
    for key, value in result.items():
        print(f"{key:30} {value}")
    OUT.mkdir(exist_ok=True)
    name = f"gc-{args.world}.json" if args.world else "gc.json"
    (OUT / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
