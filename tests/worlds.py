"""Walks over a simulator world that tests of both flavours share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def prs(world: Any) -> Iterator[tuple[Any, Any]]:
    """Every (repository, pull request) of a Cloud or a Data Center world, in world order."""
    for repo in world.repositories.values():
        listed = repo.pullrequests if hasattr(repo, "pullrequests") else repo.pull_requests
        for pr in listed.values():
            yield repo, pr
