"""Bitbucket Cloud discovery: the preflight, then workspaces → repositories (the plan's
workspace level; reference: bitbucket-cloud.md §3, §9).

``GET /user`` is never asked: it needs the ``account`` scope, which repository, project and
workspace access tokens cannot have. A narrow token's 403 on a workspace reaches the
workspace through its repositories; only a credential that reads nothing is an error.
"""

from __future__ import annotations

from bbmirror.engine.base import Engine, SyncError
from bbmirror.engine.runner import Unit
from bbmirror.engine.streams import Context
from bbmirror.http import AuthError, NotFound


class CloudDiscovery(Engine):
    """The preflight and the workspace level's hooks."""

    discovered: list[str] | None = None  # the credential's own workspaces (preflight)

    def named(self) -> tuple[str, ...]:
        """Repositories named by ``--repo`` or the source, as ``workspace/slug``."""
        return (*self.options.repos, *self.source.repos)

    async def preflight(self) -> None:
        """Check credentials, workspaces and repositories before anything is written.

        Named workspaces and repositories check the credential; with none named, listing the
        credential's own workspaces does. A named workspace the credential may not read (403)
        is reached through its repositories; only a credential that reads nothing is an error.
        """
        named = {r.split("/", 1)[0] for r in self.named()}
        slugs = sorted(set(self.source.workspaces) | named)
        if not slugs:
            self.discovered = await self.own_workspaces()
        readable = 0
        for slug in slugs:
            path = f"workspaces/{slug}"
            self.checked[path] = await self.fetch_named(path, probe=slug not in named)
            readable += bool(self.checked[path])
        for full_name in self.named():
            path = f"repositories/{full_name}"
            self.checked[path] = await self.fetch_named(path)
            readable += bool(self.checked[path])
        if slugs and not readable:
            raise SyncError(
                f"the credentials ({self.source.credentials.label}) may read none of the named "
                "workspaces or repositories (403): give the token the repository scope"
            )

    async def fetch_named(self, path: str, probe: bool = False) -> dict | None:
        """GET a workspace or repository the user named; a 404 is their mistake, said plainly.

        A 403 is a narrow credential: None for a repository, and for a workspace the
        workspace as its first readable repository shows it (``probe``), or None.
        """
        try:
            return await self.client.get(path)
        except AuthError as exc:
            if exc.status != 403:
                raise
            if not probe:
                name = path.split("/", 1)[1]
                reason = f"skipped: the credentials may not read repository {name} (403)"
                payload = {"url": exc.url, "status": exc.status}
                self.note("repositories", reason, payload, denied=True)
                return None
            self.deny(self.streams["workspaces"], exc, None)
            page = await self.guarded_get(f"repositories/{path.split('/', 1)[1]}")
            values = (page or {}).get("values") or []
            workspace = values[0].get("workspace") if values else None
            if not isinstance(workspace, dict):
                return None
            self.condensed.add(path)  # a repository's condensed copy, not the whole object
            return workspace
        except NotFound:
            what, name = path.split("/", 1)
            raise SyncError(
                f"{'workspace' if what == 'workspaces' else 'repository'} {name!r} does not exist "
                f"or is not visible to the credentials ({self.source.credentials.label})"
            ) from None

    async def guarded_get(self, path: str) -> dict | None:
        """One GET whose 403 is a narrow credential (None), not an error."""
        try:
            return await self.client.get(path, [("pagelen", "1")])
        except AuthError as exc:
            if exc.status != 403:
                raise
            return None

    async def own_workspaces(self) -> list[str]:
        """The credential's workspaces (``/user/workspaces``); a 403 or 404 says what to do."""
        found: list[str] = []
        try:
            async for page in self.client.pages("user/workspaces", [("pagelen", "100")]):
                for value in page.values:
                    ws = value.get("workspace", value)
                    if isinstance(ws, dict) and ws.get("slug"):
                        found.append(ws["slug"])
        except (AuthError, NotFound) as exc:
            if exc.status not in (403, 404):
                raise
            raise SyncError(
                f"the credentials ({self.source.credentials.label}) may not list their "
                f"workspaces ({exc.status}): name them with --workspace or --repo"
            ) from None
        if not found:
            raise SyncError(
                f"the credentials ({self.source.credentials.label}) see no workspace: "
                "name one with --workspace"
            )
        return found

    # -- the workspace level ----------------------------------------------------------------

    async def workspace_units(self, _: list[Unit]) -> list[Unit]:
        """Configured workspaces, those named by --repo, or the credential's own."""
        named = {r.split("/", 1)[0] for r in self.named()}
        if self.source.workspaces or named:
            slugs = sorted(set(self.source.workspaces) | named)
        else:
            slugs = self.discovered or await self.own_workspaces()
        return [Unit({"source": self.source.name, "workspace": slug}) for slug in slugs]

    async def workspace_object(self, unit: Unit) -> dict | None:
        """Step ``workspaces``: write the workspace (fetched by the preflight when named).

        An unreadable workspace leaves only its named repositories to sync.
        """
        slug = unit.ctx["workspace"]
        path = f"workspaces/{slug}"
        obj = self.checked[path] if path in self.checked else await self.fetch_named(path)
        if not obj:
            base = {"source": self.source.name}
            unit.facts["repositories"] = await self.named_repositories(slug, base)
            return None
        rows = self.to_rows(self.streams["workspaces"], obj, unit.ctx)
        if rows is None:
            unit.facts["repositories"] = []
            return None
        ws_id = rows["workspaces"][0]["id"]
        unit.ctx["workspace_id"] = ws_id
        unit.where = {"workspace_id": ws_id}
        condensed = path in self.condensed
        if not (condensed and self.store.has_alive("workspaces", {"id": ws_id})):
            with self.store.transaction():
                self.write(rows)  # a condensed copy never replaces the whole object
        unit.facts["readable"] = True
        return obj

    async def workspace_repositories(self, unit: Unit) -> list[dict]:
        """Step ``repositories``: the named ones of this workspace, or its whole list."""
        if "repositories" in unit.facts:
            return unit.facts["repositories"]
        slug = unit.ctx["workspace"]
        if any(r.split("/")[0] == slug for r in self.named()):
            return await self.named_repositories(slug, unit.ctx)
        listing = self.run_full(self.streams["repositories"], unit.ctx, unit.where)
        repos = await self.guarded("repositories", listing, unit.ctx) or []
        return [r for r in repos if self.source.wants(r.get("full_name", ""))]

    async def named_repositories(self, slug: str, ctx: Context) -> list[dict]:
        """The repositories named in ``slug`` that the preflight could read, written."""
        repos = []
        for full_name in self.named():
            path = f"repositories/{full_name}"
            if full_name.split("/")[0] != slug or not self.checked.get(path):
                continue
            obj = self.checked[path]
            rows = self.to_rows(self.streams["repositories"], obj, ctx)
            if rows is not None:
                with self.store.transaction():
                    self.write(rows)
                repos.append(obj)
        return [r for r in repos if self.source.wants(r.get("full_name", ""))]


def readable_workspace(engine: Engine, unit: Unit) -> bool:
    """Condition: the workspace itself could be read (not only some of its repositories)."""
    return bool(unit.facts.get("readable"))
