"""Measure webhooks on loopback: seconds from a mutation to the mirror, requests per delivery,
and what an hour costs with webhooks against a 15-minute poll.

The poll's cost is measured in-process on the economics world: for each rate, a quarter
hour's mutations (the same webhook-sending mix) then one sync, four times an hour; its floor
is the plan's no-op count (``CLOUD_PLAN.no_op_requests``, what the tests hold exact). The
webhooks' cost is the measured requests per mutation times the mutations per hour, plus one
safety-net poll an hour (its no-op count). Writes
bench-results/webhooks.json. Run through scripts/bench-webhooks.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.webhooks import webhook_activity
from bbmirror.webhooks import loopback

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mirror import Harness  # noqa: E402  (the in-process harness the tests use)


def poll_costs(size: str, seed: int, rates: list[int], folder: str) -> dict[int, int]:
    """Requests of one 15-minute poll after a quarter hour of each rate's mutations."""
    mirror = Harness(generate(seed, size), str(Path(folder) / "poll.db"))
    mirror.sync()
    rng = random.Random(seed)
    costs = {}
    for rate in rates:
        webhook_activity(mirror.world, max(1, rate // 4), rng)
        costs[rate] = mirror.sync().requests
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", help="world mutated over loopback")
    parser.add_argument("--economics", default="medium", help="world the hourly costs are for")
    parser.add_argument("--mutations", type=int, default=40)
    parser.add_argument("--rates", default="20,60,250,1000", help="mutations per hour to price")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--burst", type=int, default=1000, help="deliveries sent at once")
    args = parser.parse_args()
    world = generate(args.seed, args.size)
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        measured = loopback.run(
            world, loopback.db_path(folder), args.mutations, args.seed, burst=args.burst
        )
        polls = poll_costs(args.economics, args.seed, rates, folder)
    per_delivery = measured.requests / max(1, measured.deliveries)
    per_mutation = measured.requests / max(1, args.mutations)
    noop = CLOUD_PLAN.no_op_requests(generate(args.seed, args.economics))
    hourly = {
        rate: {
            "webhooks_plus_hourly_poll": round(rate * per_mutation) + noop,
            "poll_every_15m": 4 * polls[rate],
            "poll_every_15m_floor": 4 * noop,
        }
        for rate in rates
    }
    result = {
        "size": args.size,
        "mutations": args.mutations,
        "median_seconds": round(statistics.median(measured.seconds), 3),
        "p90_seconds": round(sorted(measured.seconds)[int(0.9 * len(measured.seconds))], 3),
        "max_seconds": round(max(measured.seconds), 3),
        "deliveries": measured.deliveries,
        "events": measured.events,
        "requests": measured.requests,
        "requests_per_delivery": round(per_delivery, 2),
        "requests_per_mutation": round(per_mutation, 2),
        "never_seen": measured.late,
        "burst": measured.burst,
        "economics_world": args.economics,
        "poll_noop_requests": noop,
        "hourly": hourly,
    }
    print(json.dumps(result, indent=2))
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
