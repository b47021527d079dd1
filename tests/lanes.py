"""The fast lane by measurement: a test that took long on its own runs only in the full lane.

``tests/slow_tests.txt`` lists such tests by node id; ``scripts/lanes`` writes it from a timed
run. A listed test is marked ``slow`` as if it carried the marker, so ``-m "not slow"`` (the
fast lane) leaves it out and ``scripts/test`` still runs it. Never listed (``KEPT`` in
scripts/lanes.py): the protocol properties and a kill-and-resume test per flavour, which the
fast lane exists to prove on ``tiny``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

LISTED = Path(__file__).with_name("slow_tests.txt")
MEASURING = "BBMIRROR_MEASURE_LANES"  # set by scripts/lanes: time every test, mark none


def listed() -> set[str]:
    """The node ids in ``slow_tests.txt`` (comments and blank lines skipped)."""
    if not LISTED.exists():
        return set()
    lines = (line.strip() for line in LISTED.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the listed tests ``slow``."""
    if os.environ.get(MEASURING):
        return
    slow = listed()
    for item in items:
        if item.nodeid in slow:
            item.add_marker(pytest.mark.slow)
