"""Time the fast lane and list its tests over THRESHOLD seconds in tests/slow_tests.txt.

A test's time is its setup, call and teardown on one of 2 xdist workers. A module fixture's
setup lands on the first test that needs it, so a second run (the default adds to the list)
catches the test that pays it next. ``--fresh`` times every unmarked test and rewrites the list.
The protocol properties and one kill-and-resume test per flavour (KEPT) stay in the fast lane.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from lanes import LISTED, MEASURING, listed  # noqa: E402

THRESHOLD = 0.4  # seconds of wall, per test, on a quiet 2-core machine
# Kept in the fast lane whatever they cost: the protocol properties, and an in-process kill and
# resume per flavour (the protocol's own crash test starts processes, so it is slow).
KEPT = (
    "tests/test_protocol.py::",
    "tests/test_sync_integrity.py::test_cloud_force_push_orphans_are_collected_after_a_kill",
    "tests/test_sync_integrity.py::test_dc_statuses_and_garbage_survive_an_interruption_after",
)
DURATION = re.compile(r"^([\d.]+)s (?:setup|call|teardown)\s+(\S+)$")


def timed(fresh: bool) -> dict[str, float]:
    """Each fast-lane test's seconds (every unmarked test when ``fresh``)."""
    env = {**os.environ, **({MEASURING: "1"} if fresh else {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q"]
    command += ["-m", "not slow", "--durations=0", "--durations-min=0", "-p", "no:randomly"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the fast lane failed; fix it before measuring:\n{done.stdout[-3000:]}")
    seconds: dict[str, float] = defaultdict(float)
    for line in done.stdout.splitlines():
        if match := DURATION.match(line.strip()):
            seconds[match.group(2)] += float(match.group(1))
    print(done.stdout.strip().splitlines()[-1])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="time every test, rewrite the list")
    args = parser.parse_args()
    seconds = timed(args.fresh)
    over = {t for t, s in seconds.items() if s >= THRESHOLD and not t.startswith(KEPT)}
    slow = over if args.fresh else listed() | over
    header = (
        f"# Tests over {THRESHOLD} s on their own (setup, call, teardown), measured by"
        f" scripts/lanes on {date.today()}:\n# tests/lanes.py marks them slow, so only the"
        " full lane (scripts/test) runs them.\n"
    )
    LISTED.write_text(header + "".join(f"{t}\n" for t in sorted(slow)))
    left = sum(s for t, s in seconds.items() if t not in slow)
    print(f"{len(slow)} tests listed ({len(over)} over {THRESHOLD} s in this run);")
    print(f"the fast lane's tests take {left:.0f} s of worker time, about {left / 2:.0f} s wall")


if __name__ == "__main__":
    main()
