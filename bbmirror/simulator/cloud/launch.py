"""Ready-made simulator set-ups for the CLI, the demo, tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.world import Membership, World
from bbmirror.simulator.common.faults import Faults

DEFAULT_TOKEN = "bbmirror-simulator-token"


def viewer_uuid(world: World) -> str:
    """A user who belongs to every workspace, so one credential sees every repository.

    When no generated user does, the first workspace's first member joins the others.
    """
    members = [{m.user_uuid for m in ws.members} for ws in world.workspaces.values()]
    common = set.intersection(*members) if members else set()
    if common:
        return sorted(common)[0]
    first = next(iter(world.workspaces.values())).members[0]
    for ws in world.workspaces.values():
        if all(m.user_uuid != first.user_uuid for m in ws.members):
            ws.members.append(Membership(first.user_uuid, "member", ws.created_on))
    return first.user_uuid


@dataclass
class Credentials:
    """What the simulator accepts, to print for the person starting it."""

    token: str | None = DEFAULT_TOKEN
    email: str | None = None
    api_token: str | None = None


def simulator_config(
    world: World,
    credentials: Credentials,
    *,
    base_url: str | None = None,
    faults: Faults | None = None,
    admin: bool = True,
) -> SimulatorConfig:
    """A config whose credentials act as a member of every workspace; ``admin``: and as an
    admin of every repository (who may run the issue export job), as the person who mirrors
    their own workspace usually is."""
    user = viewer_uuid(world)
    tokens = {credentials.token: user} if credentials.token else {}
    basic = (
        {(credentials.email, credentials.api_token): user}
        if credentials.email and credentials.api_token
        else {}
    )
    return SimulatorConfig(
        base_url=base_url,
        tokens=tokens,
        basic=basic,
        faults=faults or Faults(),
        repository_admins=frozenset({user} if admin else ()),
    )
