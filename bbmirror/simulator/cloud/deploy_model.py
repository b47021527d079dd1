"""The world's deployments and environments of a Cloud repository (deploys.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Environment:
    uuid: str
    name: str
    kind: str  # Test | Staging | Production
    rank: int


@dataclass
class Deployment:
    uuid: str
    environment_uuid: str
    release_uuid: str
    release_name: str
    commit: str
    release_created_on: str
    state: str  # UNDEPLOYED | IN_PROGRESS | COMPLETED
    status: str | None = None  # SUCCESSFUL | FAILED | STOPPED once COMPLETED
    deployer_uuid: str | None = None
    start_date: str | None = None
    completion_date: str | None = None


@dataclass
class Deploys:
    """A repository's environments (by rank) and deployments (oldest first)."""

    environments: list[Environment] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    releases: int = 0

    def env(self, kind: str) -> Environment:
        return next(e for e in self.environments if e.kind == kind)
