"""The whole loop over real HTTP: a loopback simulator delivering to `bbmirror serve --webhooks`
in its own process (slow: it starts processes)."""

from __future__ import annotations

import pytest

from bbmirror.simulator.cloud.generate import generate
from bbmirror.webhooks import loopback


@pytest.mark.slow
def test_after_each_mutation_the_mirror_served_with_webhooks_equals_the_world(tmp_path):
    measured = loopback.run(generate(5, "tiny"), loopback.db_path(tmp_path), 8, burst=1000)
    assert measured.late == []  # every mutation reached the mirror (60 s guard against hangs)
    assert measured.deliveries >= 8 and measured.requests > 0
    assert measured.requests <= 5 * measured.deliveries
    assert measured.burst["equal"]  # a flood of 1,000 deliveries: nothing lost
    assert measured.burst["answers"] == {"202": 1000}, measured.burst["errors"]  # none refused
