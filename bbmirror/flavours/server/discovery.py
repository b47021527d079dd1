"""Bitbucket Data Center discovery: the preflight, then projects → repositories (the plan's
source level; reference: bitbucket-server.md §3).

Every repository the credential sees (one listing), or the named projects' repositories, or
the named repositories (read by the preflight: no request).
"""

from __future__ import annotations

from typing import Any

from bbmirror.engine.base import Engine, SyncError, merge
from bbmirror.engine.runner import Unit
from bbmirror.engine.streams import RowSet
from bbmirror.flavours.server.streams import API
from bbmirror.http import NotFound


class ServerDiscovery(Engine):
    """The preflight and the source level's hooks."""

    async def preflight(self) -> None:
        """Check credentials, projects and repositories before anything is written.

        ``/users`` needs a licensed user, which project and repository HTTP access tokens are
        not: it checks the login only when nothing is named. After a good preflight a 401 on
        one repository's stream is a missing permission there (Server's AuthorisationException)
        and skips that family of that repository (engine/policy.py), not the run.
        """
        if not (self.source.projects or self.named_repos()):
            await self.client.get(f"{API}/users", [("limit", "1")])  # a valid login (§3.2 7)
        for key in self.source.projects:
            self.checked[key] = await self.fetch_named(f"{API}/projects/{key}", "project", key)
        for full_name in self.named_repos():
            key, slug = full_name.split("/", 1)
            path = f"{API}/projects/{key}/repos/{slug}"
            self.checked[full_name] = await self.fetch_named(path, "repository", full_name)
        self.auth_means_denied = True

    def named_repos(self) -> list[str]:
        return [*self.options.repos, *self.source.repos]

    async def fetch_named(self, path: str, what: str, name: str) -> dict:
        """GET a project or repository the user named; a 404 is their mistake, said plainly."""
        try:
            return await self.client.get(path)
        except NotFound:
            raise SyncError(
                f"{what} {name!r} does not exist or is not visible to the credentials "
                f"({self.source.credentials.label})"
            ) from None

    # -- the source level -------------------------------------------------------------------

    async def source_units(self, _: list[Unit]) -> list[Unit]:
        """The source itself: one unit."""
        return [Unit({"source": self.source.name}, where={"source": self.source.name})]

    async def project_objects(self, unit: Unit) -> list[dict]:
        """Step ``projects``: write the named projects (the preflight read them)."""
        found = [self.checked[key] for key in self.source.projects]
        with self.store.transaction():
            for obj in found:
                self.write(self.to_rows(self.streams["projects"], obj, unit.ctx) or {})
        return found

    async def named_repositories(self, unit: Unit) -> list[dict]:
        """Step ``repositories``: the named repositories, or the named projects' lists."""
        if self.named_repos():
            found = [self.checked[name] for name in self.named_repos()]
            rowset: RowSet = {}
            for obj in found:
                merge(rowset, self.to_rows(self.streams["repositories"], obj, unit.ctx) or {})
            with self.store.transaction():
                self.write(rowset)
            return found
        found = []
        for key in self.source.projects:
            project_id = f"{self.source.name}/project/{self.checked[key]['id']}"
            ctx = {**unit.ctx, "project": key}
            found += await self.run_full(
                self.streams["repositories"], ctx, {"project_id": project_id}
            )
        return found


def nothing_named(engine: Any, unit: Unit) -> bool:
    """Condition: no project and no repository is named (every visible one is mirrored)."""
    return not (engine.source.projects or engine.named_repos())


def projects_named(engine: Any, unit: Unit) -> bool:
    """Condition: projects are named, and no repository is."""
    return bool(engine.source.projects) and not engine.named_repos()


def something_named(engine: Any, unit: Unit) -> bool:
    """Condition: projects or repositories are named (the preflight read them)."""
    return not nothing_named(engine, unit)
