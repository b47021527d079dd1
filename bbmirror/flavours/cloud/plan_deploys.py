"""Cloud environments and deployments in the plan: when they are read and what they cost.

Environments change rarely and have no timestamps: they are read on the settings cadence
(cadence.py: every ``settings_every``, on ``--full`` and ``--reconcile``). Deployments have no
``updated_on`` and no documented list parameters (reference §3.19: no filter, no sort, an
undocumented order), so no watermark can stop a read early without trusting an order the field
does not promise: the list is read whole, a page per 100 deployments, and only for repositories
whose mirrored environments say they deploy at all. Running (IN_PROGRESS) and waiting
(UNDEPLOYED) deployments come again with it, so nothing is re-read one by one.
"""

from __future__ import annotations

import math
from typing import Any

from bbmirror.engine.plan import Step
from bbmirror.engine.runner import Unit
from bbmirror.flavours.cloud import cadence

PAGE = 100
ENV_SQL = (
    "select 1 from environments where source = ? and repository_id = ?"
    " and deleted_at is null limit 1"
)


def _pages(n: int) -> int:
    return max(1, math.ceil(n / PAGE))


def environments_due(engine: Any, unit: Unit) -> bool:
    """Condition: the environment list is due on the settings cadence (cadence.py)."""
    return cadence.due(engine, unit.ctx, "environments")


def has_environments(engine: Any, unit: Unit) -> bool:
    """Condition: the mirror holds an environment of this repository (else it deploys nothing)."""
    args = (engine.source.name, unit.ctx["repository_id"])
    return engine.store.conn.execute(ENV_SQL, args).fetchone() is not None


def deployments_cost(repo: Any) -> int:
    """The whole list when the repository has environments; nothing asked otherwise."""
    return _pages(len(repo.deploys.deployments)) if repo.deploys.environments else 0


STEPS = (
    Step(
        "environments",
        when="due: read every settings_every (24 h), on --full and --reconcile (cadence.py)",
        holds=environments_due,
        wanted_with=("deployments",),  # --only deployments needs them
        then="settings_read",
        noop=0,
        least=lambda r: _pages(len(r.deploys.environments)),
    ),
    Step(
        "deployments",
        after=("environments",),
        when="the repository has environments; the whole list (no watermark: §3.19)",
        holds=has_environments,
        noop=deployments_cost,
        least=deployments_cost,
    ),
)
