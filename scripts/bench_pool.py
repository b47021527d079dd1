"""A first Cloud sync with 1 and with N credentials: requests per credential and hours (issue 14).

Two measures, run through scripts/bench-pool:

* ``hours`` (default ``large``): an unpaced in-process sync per pool size; the simulated hours
  at a per-credential limit are the busiest credential's requests / the limit (the pacer lets
  each credential spend exactly its limit an hour, in parallel with the others).
* ``clock`` (default ``small``): a real, timed sync on a scaled-down clock: the simulator
  refuses above ``--limit`` requests per ``--window`` seconds per credential (a rolling
  window, no Retry-After, as on Cloud) and the client's budget is the same limit per window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bbmirror.config import Credentials, Secret, Source
from bbmirror.engine import Options, sync_sources
from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.common.transport import SimulatorTransport

BASE = "http://bitbucket.test/2.0"


def measure(size: str, seed: int, credentials: int, limit: int, window: float | None) -> dict:
    """One first sync of a fresh world; with ``window``, paced and refused at ``limit``."""
    tokens = [f"bench-pool-token-{n}-0123456789" for n in range(1, credentials + 1)]
    world = generate(seed, size)
    user = viewer_uuid(world)
    app = create_app(world, SimulatorConfig(base_url=BASE, tokens={t: user for t in tokens}))
    budget = 1_000_000
    if window is not None:
        app.state.faults.rate_limit, app.state.faults.window = limit, window
        budget = limit
    pool = [Credentials(token=Secret(t)) for t in tokens]
    source = Source(
        name="cloud",
        base_url=BASE,
        workspaces=sorted(world.workspaces),
        credentials=pool[0],
        more_credentials=pool[1:],
        budget=budget,
        reconcile_every=1_000_000,
    )
    options = {"budget_window": window or 3600.0}
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        try:
            run = sync_sources(
                str(Path(folder) / "m.db"),
                [source],
                Options(),
                transport=SimulatorTransport(app),
                client_options=options,
            )
            outcome = asyncio.run(run)[0].outcome
        except Exception as exc:  # a run that fails is a result too
            outcome = f"failed: {type(exc).__name__}"
        elapsed = time.monotonic() - started
    log = app.state.request_log
    served = Counter(r.credential for r in log)
    busiest = max(served.values(), default=0)
    result = {
        "size": size,
        "credentials": credentials,
        "requests": len(log),
        "per_credential": dict(sorted(served.items())),
        "refused_429": app.state.faults.counters["rate_limited"],
        "outcome": outcome,
        "seconds": round(elapsed, 1),
    }
    if window is None:
        result[f"hours_at_{limit}_per_hour_each"] = round(busiest / limit, 2)
    else:
        result["limit"] = f"{limit}/{window:g}s per credential"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["hours", "clock"])
    parser.add_argument("--size", help="world size (default: large for hours, small for clock)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pools", default="1,4", help="pool sizes to compare")
    parser.add_argument("--limit", type=int, help="requests per window per credential")
    parser.add_argument("--window", type=float, default=15.0, help="clock: the scaled hour (s)")
    args = parser.parse_args()
    size = args.size or ("large" if args.mode == "hours" else "small")
    limit = args.limit or (1000 if args.mode == "hours" else 400)
    window = args.window if args.mode == "clock" else None
    results = []
    for count in (int(n) for n in args.pools.split(",")):
        results.append(measure(size, args.seed, count, limit, window))
        json.dump(results[-1], sys.stdout)
        print(flush=True)
    key = "seconds" if window is not None else f"hours_at_{limit}_per_hour_each"
    first, last = results[0], results[-1]
    if last[key]:
        print(f"# {first['credentials']} vs {last['credentials']} credentials: "
              f"{first[key]} vs {last[key]} {key} ({first[key] / last[key]:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
