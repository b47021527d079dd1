"""The order of work for a Bitbucket Cloud source (reference: bitbucket-cloud.md §3, §9).

* Pull requests and issues are read in ascending ``updated_on`` with keyset paging: each page
  is a fresh ``q=updated_on >= <last value seen>`` query, so rows that change while we page
  can never slide past us the way they can behind an offset-based ``next`` link. A page's
  rows, its changed parents' children and the checkpoint commit in one transaction.
* Commits: ``include`` the new branch and tag heads, ``exclude`` the heads already mirrored,
  following the iterator ``next`` links (the resume point survives a crash).
* Workspaces, members, projects, repositories, refs, milestones, versions and components are
  small: re-listed every run, with tombstones for what vanished.
"""

from __future__ import annotations

import asyncio

from bbmirror.engine import freshness, renames
from bbmirror.engine.base import (
    SyncError,
)
from bbmirror.engine.feed import FeedWalker
from bbmirror.engine.heads import HeadsWalker
from bbmirror.engine.keyset import KeysetWalker
from bbmirror.engine.streams import Context
from bbmirror.flavours.cloud.pr_children import FEED, FEED_TOP, PrChildren
from bbmirror.http import AuthError, NotFound


class CloudSync(PrChildren, KeysetWalker, HeadsWalker, FeedWalker):
    """The order of work for one Bitbucket Cloud source."""

    discovered: list[str] | None = None  # the credential's own workspaces (preflight)

    async def run(self) -> None:
        self.flush_notes()
        workspaces = await self.workspaces()
        repos: list[dict] = []
        for slug in workspaces:
            repos.extend(await self.workspace(slug))
        self.summary.repositories = len(repos)
        limit = asyncio.Semaphore(max(1, self.source.concurrency))

        async def one(repo: dict) -> None:
            async with limit:
                await self.repository(repo)

        await asyncio.gather(*(one(repo) for repo in repos))

    async def preflight(self) -> None:
        """Check credentials, workspaces and repositories before anything is written.

        ``GET /user`` is never asked: it needs the ``account`` scope, which repository, project
        and workspace access tokens cannot have. Named workspaces and repositories check the
        credential; with none named, listing the credential's own workspaces does. A named
        workspace the credential may not read (403) is reached through its repositories; only
        a credential that reads nothing is an error.
        """
        named = {r.split("/", 1)[0] for r in (*self.options.repos, *self.source.repos)}
        slugs = sorted(set(self.source.workspaces) | named)
        if not slugs:
            self.discovered = await self.own_workspaces()
        readable = 0
        for slug in slugs:
            path = f"workspaces/{slug}"
            self.checked[path] = await self.fetch_named(path, probe=slug not in named)
            readable += bool(self.checked[path])
        repos = (*self.options.repos, *self.source.repos)
        for full_name in repos:
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

    async def workspaces(self) -> list[str]:
        """Configured workspaces, those named by --repo, or the credential's own."""
        named = {r.split("/", 1)[0] for r in (*self.options.repos, *self.source.repos)}
        if self.source.workspaces or named:
            return sorted(set(self.source.workspaces) | named)
        return self.discovered or await self.own_workspaces()

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

    async def workspace(self, slug: str) -> list[dict]:
        """Mirror a workspace, its members and projects; return the repositories to sync."""
        path = f"workspaces/{slug}"
        obj = self.checked[path] if path in self.checked else await self.fetch_named(path)
        if not obj:
            return await self.named_repositories(slug, {"source": self.source.name})
        ctx: Context = {"source": self.source.name, "workspace": slug}
        rows = self.to_rows(self.streams["workspaces"], obj, ctx)
        if rows is None:
            return []
        ws_id = rows["workspaces"][0]["id"]
        ctx["workspace_id"] = ws_id
        condensed = path in self.condensed
        if not (condensed and self.store.has_alive("workspaces", {"id": ws_id})):
            with self.store.transaction():
                self.write(rows)  # a condensed copy never replaces the whole object
        if self.wanted("members"):
            await self.optional_full("members", ctx, {"workspace_id": ws_id})
        if self.wanted("projects"):
            await self.optional_full("projects", ctx, {"workspace_id": ws_id})
        if any(r.split("/")[0] == slug for r in (*self.options.repos, *self.source.repos)):
            return await self.named_repositories(slug, ctx)
        listing = self.run_full(self.streams["repositories"], ctx, {"workspace_id": ws_id})
        repos = await self.guarded("repositories", listing, ctx) or []
        return [r for r in repos if self.source.wants(r.get("full_name", ""))]

    async def named_repositories(self, slug: str, ctx: Context) -> list[dict]:
        """The repositories named in ``slug`` that the preflight could read, written."""
        repos = []
        for full_name in (*self.options.repos, *self.source.repos):
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

    async def optional_full(self, name: str, ctx: Context, where: dict[str, str]) -> None:
        """Members and projects: scopes a repository access token lacks (403 skips them)."""
        await self.guarded(name, self.run_full(self.streams[name], ctx, where), ctx)

    async def guarded_get(self, path: str) -> dict | None:
        """One GET whose 403 is a narrow credential (None), not an error."""
        try:
            return await self.client.get(path, [("pagelen", "1")])
        except AuthError as exc:
            if exc.status != 403:
                raise
            return None

    async def repository(self, repo: dict) -> None:
        """Every stream of one repository; one failing stream does not stop the others."""
        full_name = repo["full_name"]
        workspace, slug = full_name.split("/", 1)
        repo_id = repo["uuid"]
        ctx: Context = {
            "source": self.source.name,
            "workspace": workspace,
            "slug": slug,
            "full_name": full_name,
            "repository_id": repo_id,
        }
        renames.check(self.store, self.source.name, repo_id, ctx["full_name"])  # renamed: all again
        where = {"repository_id": repo_id}
        listed = await self.read_refs(ctx, where, _name_and_target)
        refs = listed[0] if listed else {}
        if self.wanted("commits") and refs:
            commits = self.run_commits(self.streams["commits"], ctx, repo_id, refs)
            await self.guarded("commits", commits, ctx)
        if self.wanted("default_reviewers"):
            reviewers = self.run_full(self.streams["default_reviewers"], ctx, where)
            await self.guarded("default_reviewers", reviewers, ctx)
        if self.wanted("pr_feed"):  # before the PRs: it decides which children they need
            feed = self.run_feed(self.streams["pr_feed"], ctx, repo_id)
            read = await self.guarded("pr_feed", feed, ctx)
            ctx[FEED], ctx[FEED_TOP] = (read.status, read.top or "") if read else ("", "")
        if self.wanted("pullrequests"):
            prs = self.run_incremental(self.streams["pullrequests"], ctx, repo_id)
            await self.guarded("pullrequests", prs, ctx)
            if self.wanted("pr_statuses") and not self.options.reconcile:
                building = freshness.reread_building(self, ctx, repo_id)
                await self.guarded("pr_statuses", building, ctx)
        if self.wanted("commits") and refs:
            self.collect_garbage(repo_id, refs)  # when due (see Engine.collect_garbage)
        tracker = bool(repo.get("has_issues")) and await self.tracker(ctx, where)
        if self.options.reconcile:
            for name in ("pullrequests", "issues"):
                if self.wanted(name) and (name == "pullrequests" or tracker):
                    await self.guarded(
                        f"reconcile {name}",
                        self.reconcile_ids(self.streams[name], ctx, where),
                        ctx,
                    )

    async def tracker(self, ctx: Context, where: dict[str, str]) -> bool:
        """The issue tracker's lists; whether the tracker is there (not removed upstream).

        A 410 is remembered in the sync state and asked again only on ``--full`` or
        ``--reconcile`` (engine/policy.py); its mirrored issues stay untouched.
        """
        if self.is_removed(ctx):
            if not (self.options.full or self.options.reconcile):
                return False
            self.forget_removed(ctx)  # re-check: a new 410 remembers it again
        for name in ("milestones", "versions", "components", "issues"):
            if not self.wanted(name):
                continue
            if name == "issues":
                work = self.run_incremental(self.streams[name], ctx, ctx["repository_id"])
            else:
                work = self.run_full(self.streams[name], ctx, where)
            await self.guarded(name, work, ctx)
            if self.is_removed(ctx):
                return False  # removed upstream: the other tracker lists would say 410 too
        return True


def _name_and_target(ref: dict) -> tuple[str, str | None, bool]:
    return ref["name"], (ref.get("target") or {}).get("hash"), False
