"""Count the 429s a Cloud sync draws under a tight rate limit that sends no Retry-After.

Issue 11.7: without Retry-After every queued request used to draw its own 429. The simulator
refuses above ``--limit`` requests per ``--window`` seconds (200 per 60 s in the field trial;
the default here keeps the same rate in a 6 s window so a run takes seconds, not minutes).
Run through scripts/bench-429.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from benchlib import served_cloud

from bbmirror.engine import Options, sync_sources
from bbmirror.simulator.common.transport import SimulatorTransport

TOKEN = "bench-429-token-0123456789"


def measure(
    size: str,
    seed: int,
    limit: int,
    window: float,
    concurrency: int,
    bucket: bool = False,
    latency: float = 0.0,
) -> dict:
    """One sync of a fresh world under the limit; what it cost and how it ended."""
    _, app, source = served_cloud(
        seed, size, TOKEN, concurrency=concurrency, reconcile_every=1_000_000
    )
    app.state.faults.rate_limit = limit
    app.state.faults.window = window
    app.state.faults.bucket = bucket
    app.state.faults.latency = latency  # a network's delay: requests overlap in flight
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        run = sync_sources(
            str(Path(folder) / "m.db"), [source], Options(), transport=SimulatorTransport(app)
        )
        try:
            summary = asyncio.run(run)[0]
            outcome, errors = summary.outcome, summary.errors
        except Exception as exc:  # a run that fails is a result too
            outcome, errors = f"failed: {type(exc).__name__}", -1
        elapsed = time.monotonic() - started
    refused = app.state.faults.counters["rate_limited"]
    return {
        "size": size,
        "limit": f"{limit}/{window:g}s" + (" bucket" if bucket else " rolling"),
        "latency": latency,
        "concurrency": concurrency,
        "requests": len(app.state.request_log),  # the log sits outside the faults: 429s too
        "refused_429": refused,
        "outcome": outcome,
        "errors": errors,
        "seconds": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--window", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--bucket", action="store_true", help="a token bucket, not a window")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args()
    result = measure(
        args.size,
        args.seed,
        args.limit,
        args.window,
        args.concurrency,
        args.bucket,
        args.latency,
    )
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
