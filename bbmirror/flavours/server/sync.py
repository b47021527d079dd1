"""The order of work for a Bitbucket Server / Data Center source (bitbucket-server.md §3).

Server has no "updated since" filter, so:

* Pull requests are paged newest first (``state=ALL&order=NEWEST``) and the walk stops at the
  first page that reaches below the watermark minus the overlap, but only while the pages
  are seen to be in descending ``updatedDate`` order; otherwise the whole list is read (the
  sort key of NEWEST is undocumented, §3.1). Open PRs are re-listed every run, unless that
  walk read the whole list. A PR whose change markers moved (``updatedDate``, ``version``,
  comment and task counts, state) gets its activities (the change log and the only complete
  source of comments) and commits again; its Jira issues follow the walk, asked only when a
  commit names a candidate key (jira.py). A page and its children commit together; the
  watermark moves at the end, so a killed run starts again from the top, where unchanged PRs
  cost nothing.
* Commits are read per moved ref as graph ranges: ``until=<new tip>&since=<old tip>``, and a new
  ref ``since`` the default branch; none for a tip the mirror already reaches (ranges.py).
  Build statuses of new tips are asked in bulk, and listed for tips with builds (statuses.py).
* A complete PR list (the first run, a non-monotonic order, or ``--reconcile``) tombstones PRs
  that vanished; ``--reconcile`` also re-reads the children of every PR.
"""

from __future__ import annotations

import asyncio

from bbmirror.engine import freshness
from bbmirror.engine.base import SyncError, merge
from bbmirror.engine.newest import NewestWalker
from bbmirror.engine.ranges import RangesWalker
from bbmirror.engine.streams import Context, RowSet
from bbmirror.flavours.server.jira import JiraDue, read_jira
from bbmirror.flavours.server.statuses import read_statuses
from bbmirror.flavours.server.streams import API
from bbmirror.http import NotFound


class ServerSync(JiraDue, RangesWalker, NewestWalker):
    """The order of work for one Bitbucket Data Center source."""

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

    async def run(self) -> None:
        self.flush_notes()
        repos = [r for r in await self.repositories() if self.source.wants(_full_name(r))]
        self.summary.repositories = len(repos)
        limit = asyncio.Semaphore(max(1, self.source.concurrency))

        async def one(repo: dict) -> None:
            async with limit:
                await self.repository(repo)

        await asyncio.gather(*(one(repo) for repo in repos))

    async def repositories(self) -> list[dict]:
        """The repositories to mirror: named ones, those of named projects, or every one."""
        base: Context = {"source": self.source.name}
        if self.named_repos():
            found = [self.checked[name] for name in self.named_repos()]
            rowset: RowSet = {}
            for obj in found:
                merge(rowset, self.to_rows(self.streams["repositories"], obj, base) or {})
            with self.store.transaction():
                self.write(rowset)
            return found
        if not self.source.projects:
            stream = self.streams["all_repositories"]
            return await self.run_full(stream, base, {"source": self.source.name})
        found = []
        for key in self.source.projects:
            with self.store.transaction():  # fetched by the preflight: no request
                self.write(self.to_rows(self.streams["projects"], self.checked[key], base) or {})
            project_id = f"{self.source.name}/project/{self.checked[key]['id']}"
            ctx = {**base, "project": key}
            found += await self.run_full(
                self.streams["repositories"], ctx, {"project_id": project_id}
            )
        return found

    async def repository(self, repo: dict) -> None:
        """Every stream of one repository; one failing stream does not stop the others."""
        repo_id = f"{self.source.name}/repo/{repo['id']}"
        ctx: Context = {
            "source": self.source.name,
            "project": repo["project"]["key"],
            "slug": repo["slug"],
            "full_name": _full_name(repo),
            "repository_id": repo_id,
        }
        where = {"repository_id": repo_id}
        refs, default = await self.read_refs(ctx, where, _name_and_target) or ({}, None)
        if self.wanted("commits") and refs:
            ranges = self.run_ranges(self.streams["commits"], ctx, repo_id, refs, default)
            await self.guarded("commits", ranges, ctx)
        if self.wanted("statuses"):
            # Statuses come from state (tips walked whose statuses are still unread), so a
            # failed walk, a failed read, a kill before this line or an --only that left them
            # out loses none of them.
            # Tips whose builds are still running are asked again (freshness.py) and listed
            # when their counts moved (statuses.py); --reconcile reads every tip's.
            tips = set(refs.values())
            building = freshness.tips_building(self.store, repo_id, tips)
            extra = sorted(tips) if self.options.reconcile else []
            reading = read_statuses(self, ctx, repo_id, building, extra)
            await self.guarded("statuses", reading, ctx)
        if self.wanted("labels"):
            labels = self.run_full(self.streams["labels"], ctx, where)
            await self.guarded("labels", labels, ctx)
        if self.wanted("pullrequests"):
            newest = self.run_newest(self.streams["pullrequests"], ctx, repo_id)
            await self.guarded("pullrequests", newest, ctx)
        if self.wanted("pr_jira"):
            await self.guarded("pr_jira", read_jira(self, ctx, repo_id), ctx)
        if self.wanted("commits") and refs:
            self.collect_garbage(repo_id, refs)


def _full_name(repo: dict) -> str:
    return f"{(repo.get('project') or {}).get('key')}/{repo.get('slug')}"


def _name_and_target(ref: dict) -> tuple[str, str | None, bool]:
    return ref["displayId"], ref.get("latestCommit"), bool(ref.get("isDefault"))
