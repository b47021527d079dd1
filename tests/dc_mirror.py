"""Test helpers for Data Center: sync a simulated Server in-process, compare the mirror to it.

The oracle lives in ``bbmirror/simulator/server/oracle.py`` and is re-exported here.
"""

from __future__ import annotations

from mirror import Harness

from bbmirror.config import Credentials, Secret
from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig
from bbmirror.simulator.server.oracle import QUERIES as QUERIES
from bbmirror.simulator.server.oracle import SOURCE as SOURCE
from bbmirror.simulator.server.oracle import differences as differences
from bbmirror.simulator.server.oracle import expected as expected
from bbmirror.simulator.server.world import DcWorld

TOKEN = "dc-secret-token-9876543210"
ROOT = "http://bitbucket-dc.test"


class DcHarness(Harness):
    """A Server world served in-process, and a way to sync it into a database."""

    world: DcWorld
    oracle = staticmethod(differences)

    def make_app(self):
        viewer = self.world.users[min(self.world.users)].slug
        return create_dc_app(self.world, DcConfig(base_url=ROOT, tokens={TOKEN: viewer}))

    def source_values(self) -> dict:
        return {
            "name": SOURCE,
            "kind": "server",
            "base_url": ROOT,
            "credentials": Credentials(token=Secret(TOKEN)),
        }
