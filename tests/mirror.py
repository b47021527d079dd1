"""Test helpers: run bbmirror against the simulator and compare the database with the world.

The world is the ground truth; the oracle (which rows a correct mirror holds) lives with the
simulator in ``bbmirror/simulator/cloud/oracle.py`` and is re-exported here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bbmirror.config import Credentials, Secret, Source
from bbmirror.engine import Options, Summary, sync_sources
from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.oracle import QUERIES as QUERIES
from bbmirror.simulator.cloud.oracle import SOURCE as SOURCE
from bbmirror.simulator.cloud.oracle import differences as differences
from bbmirror.simulator.cloud.oracle import expected as expected
from bbmirror.simulator.cloud.world import World
from bbmirror.simulator.common.transport import SimulatorTransport

TOKEN = "sim-secret-token-0123456789"
BASE = "http://bitbucket.test/2.0"


@dataclass
class Harness:
    """A Cloud world served in-process, and a way to sync it into a database."""

    world: World
    db: str
    faults: dict = field(default_factory=dict)
    oracle = staticmethod(differences)  # (world, db) -> [] when the mirror equals the world

    def __post_init__(self) -> None:
        self.app = self.make_app()
        for name, value in self.faults.items():
            setattr(self.app.state.faults, name, value)

    def make_app(self):
        config = SimulatorConfig(base_url=BASE, tokens={TOKEN: viewer_uuid(self.world)})
        return create_app(self.world, config)

    def source_values(self) -> dict:
        return {
            "name": SOURCE,
            "base_url": BASE,
            "workspaces": sorted(self.world.workspaces),
            "credentials": Credentials(token=Secret(TOKEN)),
        }

    def narrow(self, *scopes: str) -> None:
        """Let the token carry only ``scopes``: the simulator refuses what they do not cover."""
        self.app.state.config.scopes = {TOKEN: frozenset(scopes)}

    @property
    def log(self) -> list:
        return self.app.state.request_log

    def source(self, **overrides) -> Source:
        values = {"budget": 1_000_000, "reconcile_every": 1_000_000, **self.source_values()}
        return Source(**{**values, **overrides})

    def sync(self, options: Options | None = None, **source_overrides) -> Summary:
        summaries = asyncio.run(
            sync_sources(
                self.db,
                [self.source(**source_overrides)],
                options or Options(),
                transport=SimulatorTransport(self.app),
                client_options={"backoff": 0.001, "max_backoff": 0.01, "retries": 30},
            )
        )
        return summaries[0]

    def sync_equal(self, options: Options | None = None, **source_overrides) -> Summary:
        """Sync; the run must be clean (ok, no errors) and the mirror equal to the world."""
        summary = self.sync(options, **source_overrides)
        assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
        assert self.oracle(self.world, self.db) == []
        return summary

    def sync_narrowed(self, *scopes: str) -> Summary:
        """Sync with a token carrying only ``scopes``: the run stays ok and says it skipped."""
        self.narrow(*scopes)
        summary = self.sync()
        assert summary.outcome == "ok" and summary.skipped > 0, summary.message
        return summary
