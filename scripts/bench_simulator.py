"""Simulator speed: world generation per size, and serving a 100-item page in-process.

Prints a table and writes bench-results/simulator.json. Run through scripts/bench-simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
from benchlib import write_results

from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import DEFAULT_TOKEN, viewer_uuid
from bbmirror.simulator.common.transport import SimulatorTransport

BASE = "http://bitbucket.test/2.0"


def time_generation(size: str, seed: int) -> tuple[float, object]:
    started = time.perf_counter()
    world = generate(seed, size)
    return time.perf_counter() - started, world


async def time_pages(world, repeats: int) -> dict[str, float]:
    """Median milliseconds for one 100-item page of a few list endpoints."""
    config = SimulatorConfig(base_url=BASE, tokens={DEFAULT_TOKEN: viewer_uuid(world)})
    app = create_app(world, config)
    repo = max(world.repositories.values(), key=lambda r: len(r.pullrequests))
    path = f"/repositories/{repo.full_name}"
    states = "state=OPEN&state=MERGED&state=DECLINED&state=SUPERSEDED"
    endpoints = {
        "pullrequests": f"{path}/pullrequests?pagelen=100&{states}",
        "pullrequests q+sort": f"{path}/pullrequests?pagelen=100&{states}"
        "&q=updated_on%20%3E%3D%202020-01-01&sort=updated_on",
        "commits": f"{path}/commits?pagelen=100",
        "issues": f"{path}/issues?pagelen=100",
    }
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    results = {}
    async with httpx.AsyncClient(transport=SimulatorTransport(app), base_url=BASE) as client:
        for name, url in endpoints.items():
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                response = await client.get(BASE + url, headers=headers)
                samples.append(time.perf_counter() - started)
                if response.status_code == 404:  # e.g. no issue tracker on this repository
                    break
                response.raise_for_status()
            results[name] = round(statistics.median(samples) * 1000, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="tiny,small,medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default="bench-results/simulator.json")
    args = parser.parse_args()
    report = {}
    for size in args.sizes.split(","):
        seconds, world = time_generation(size, args.seed)
        pages = asyncio.run(time_pages(world, args.repeats))
        report[size] = {"generate_seconds": round(seconds, 2), "page_ms": pages}
        page_text = ", ".join(f"{k} {v} ms" for k, v in pages.items())
        print(f"{size:7} generate {seconds:6.2f} s   100-item page: {page_text}")
    write_results(args.out, report)


if __name__ == "__main__":
    main()
