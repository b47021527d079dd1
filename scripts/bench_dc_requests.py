"""Data Center requests per family: a full sync, an incremental one after 500 changes, a no-op,
then whether the mirror equals the world after ``--reconcile`` (issue 14)."""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dc_mirror import DcHarness, differences  # noqa: E402

from bbmirror.engine import Options  # noqa: E402
from bbmirror.simulator.server.generate import generate_dc  # noqa: E402
from bbmirror.simulator.server.mutate import random_activity  # noqa: E402

FAMILIES = ("commits", "branches", "tags", "labels", "pull-requests", "repos", "users")


def family(method: str, path: str) -> str:
    """A request's family: build-status stats or lists, Jira, a PR child list, or a core list."""
    if "/build-status/" in path:
        return "build-status stats (POST)" if method == "POST" else "build-status lists"
    if path.startswith("/rest/jira/"):
        return "jira PR issues"
    child = re.search(r"/pull-requests/\d+/(\w+)$", path)
    if child:
        return "PR " + child.group(1)
    return next((f for f in FAMILIES if path.endswith("/" + f)), path)


def bench(size: str, seed: int, mutations: int) -> dict:
    world = generate_dc(seed, size)
    harness = DcHarness(world, str(Path(tempfile.mkdtemp()) / "mirror.db"))
    out: dict = {}
    for phase in ("full", "incremental", "no-op"):
        if phase == "incremental":
            random_activity(world, mutations, random.Random(7))
        start = len(harness.log)
        harness.sync(Options())
        log = harness.log[start:]
        counts = collections.Counter(family(r.method, r.path) for r in log)
        out[phase] = {"requests": len(log), "families": dict(counts.most_common())}
    harness.sync(Options(reconcile=True))
    out["equal after --reconcile"] = differences(world, harness.db) == []
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mutations", type=int, default=500)
    parser.add_argument("--out", default="bench-results/dc-requests.json")
    args = parser.parse_args()
    results = {size: bench(size, args.seed, args.mutations) for size in args.sizes.split(",")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
