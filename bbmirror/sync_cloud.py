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

from bbmirror.http import AuthError, Gone, NotFound
from bbmirror.store.db import SyncState
from bbmirror.streams import Context, RowSet, Stream
from bbmirror.sync import (
    OVERLAP,
    Engine,
    SyncError,
    before_watermark,
    cursor_of,
    merge,
    page_values,
)

LONG_REF_LIST = 40  # more include/exclude refs than this go in a POST form body


class CloudSync(Engine):
    """The order of work for one Bitbucket Cloud source."""

    async def run(self) -> None:
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

    async def run_incremental(self, stream: Stream, ctx: Context, scope: str) -> None:
        """Keyset-page a list in cursor order, fetching children of changed parents."""
        assert stream.cursor
        state = self.store.get_state(self.source.name, scope, stream.name)
        if state is None or self.options.full:
            state = SyncState(source=self.source.name, scope=scope, stream=stream.name)
        start = state.resume or before_watermark(state.watermark, OVERLAP)
        run_max = state.extra.get("run_max") if state.resume else None
        path = stream.path.format(**ctx)
        base = [*stream.params, ("sort", stream.cursor), ("pagelen", str(stream.pagelen))]
        url: str | None = None  # set when keyset paging cannot progress (ties on a page)
        seen = 0
        try:
            await self.redo(stream, ctx, state)
            while True:
                if url:
                    body = await self.client.get(url)
                else:
                    query = [("q", f"{stream.cursor} >= {start}")] if start else []
                    body = await self.client.get(path, [*base, *query])
                values = page_values(body, path)
                page = await self.read_parents(stream, ctx, values)
                cursors = [c for obj in values if (c := cursor_of(obj, stream.cursor))]
                page_max = max(cursors, default=None)
                run_max = max(filter(None, [run_max, page_max]), default=None)
                following = body.get("next")
                with self.store.transaction():
                    self.write_parents(stream, page, state)
                    if not following:
                        state.watermark = run_max or state.watermark
                        state.resume = None
                        state.extra.pop("run_max", None)
                    else:
                        state.resume = page_max if page_max and page_max != start else start
                        state.extra["run_max"] = run_max
                    self.store.put_state(state)
                seen += len(values)
                self.progress(ctx.get("full_name", ""), stream.name, seen)
                if not following:
                    return
                if page_max and page_max != start:
                    start, url = page_max, None
                else:
                    url = following  # a page full of one timestamp: fall back to `next`
        except (NotFound, Gone):
            if not stream.optional:
                raise

    async def run_commits(
        self, stream: Stream, ctx: Context, scope: str, refs: dict[str, str]
    ) -> bool:
        """Walk commits reachable from new heads, excluding the heads already mirrored.

        Returns whether a head the mirror knew is gone (a force-push or deleted ref), so that
        the caller collects unreachable commits once the pull requests are up to date.
        """
        state = self.store.get_state(self.source.name, scope, stream.name)
        if state is None or self.options.full:
            state = SyncState(source=self.source.name, scope=scope, stream=stream.name)
        known = dict(state.heads)
        new_heads = sorted(set(refs.values()) - set(known.values()))
        path = stream.path.format(**ctx)
        pending = state.extra.get("pending")
        if state.resume and pending == refs:
            url: str | None = state.resume
            body = await self.client.get(url)
        elif new_heads:
            exclude = sorted(set(known.values()) - set(new_heads))
            try:
                body = await self._commit_query(path, new_heads, exclude)
            except NotFound:
                # An old head vanished (force-push): exclude only heads that are still refs.
                exclude = sorted(set(exclude) & set(refs.values()))
                body = await self._commit_query(path, new_heads, exclude)
        else:
            body = None
        seen = 0
        while body is not None:
            values = page_values(body, path)
            rowset: RowSet = {}
            for obj in values:
                rows = self.to_rows(stream, obj, ctx)
                if rows is not None:
                    merge(rowset, rows)
            following = body.get("next")
            with self.store.transaction():
                self.write(rowset)
                state.resume = following
                state.extra["pending"] = refs
                if not following:
                    state.heads = dict(refs)
                    state.resume = None
                    state.extra.pop("pending", None)
                self.store.put_state(state)
            seen += len(values)
            self.progress(ctx.get("full_name", ""), stream.name, seen)
            body = await self.client.get(following) if following else None
        if state.heads != refs and not state.resume:
            # Nothing new to walk, but refs moved back or vanished: remember the current set.
            with self.store.transaction():
                state.heads = dict(refs)
                self.store.put_state(state)
        return bool(set(known.values()) - set(refs.values()))

    async def _commit_query(self, path: str, include: list[str], exclude: list[str]) -> dict:
        refs = [("include", h) for h in include] + [("exclude", h) for h in exclude]
        if len(refs) > LONG_REF_LIST:
            return await self.client.post_form(path, [*refs, ("pagelen", "100")])
        return await self.client.get(path, [*refs, ("pagelen", "100")])

    async def preflight(self) -> None:
        """Check credentials, workspaces and repositories before anything is written."""
        if self.source.credentials.header():
            self.checked["user"] = await self.client.get("user")  # who lists (runs.py)
        named = {r.split("/", 1)[0] for r in (*self.options.repos, *self.source.repos)}
        for slug in sorted(set(self.source.workspaces) | named):
            path = f"workspaces/{slug}"
            self.checked[path] = await self.fetch_named(path)
        for full_name in (*self.options.repos, *self.source.repos):
            path = f"repositories/{full_name}"
            self.checked[path] = await self.fetch_named(path)

    async def fetch_named(self, path: str) -> dict:
        """GET a workspace or repository the user named; a 404 is their mistake, said plainly."""
        try:
            return await self.client.get(path)
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
        found: list[str] = []
        async for page in self.client.pages("user/workspaces", [("pagelen", "100")]):
            for value in page.values:
                ws = value.get("workspace", value)
                if isinstance(ws, dict) and ws.get("slug"):
                    found.append(ws["slug"])
        if not found:
            raise SyncError(
                f"the credentials ({self.source.credentials.label}) see no workspace: "
                "name one with --workspace"
            )
        return found

    async def workspace(self, slug: str) -> list[dict]:
        """Mirror a workspace, its members and projects; return the repositories to sync."""
        obj = self.checked.get(f"workspaces/{slug}") or await self.fetch_named(f"workspaces/{slug}")
        ctx: Context = {"source": self.source.name, "workspace": slug}
        rows = self.to_rows(self.streams["workspaces"], obj, ctx)
        if rows is None:
            return []
        ws_id = rows["workspaces"][0]["id"]
        ctx["workspace_id"] = ws_id
        with self.store.transaction():
            self.write(rows)
        if self.wanted("members"):
            await self.optional_full("members", ctx, {"workspace_id": ws_id})
        if self.wanted("projects"):
            await self.optional_full("projects", ctx, {"workspace_id": ws_id})
        wanted_repos = [
            r for r in (*self.options.repos, *self.source.repos) if r.split("/")[0] == slug
        ]
        if wanted_repos:
            repos = []
            for full_name in wanted_repos:
                path = f"repositories/{full_name}"
                obj = self.checked.get(path) or await self.fetch_named(path)
                rows = self.to_rows(self.streams["repositories"], obj, ctx)
                if rows is not None:
                    with self.store.transaction():
                        self.write(rows)
                    repos.append(obj)
        else:
            repos = await self.run_full(self.streams["repositories"], ctx, {"workspace_id": ws_id})
        return [r for r in repos if self.source.wants(r.get("full_name", ""))]

    async def optional_full(self, name: str, ctx: Context, where: dict[str, str]) -> None:
        try:
            await self.run_full(self.streams[name], ctx, where)
        except AuthError:
            # Members and projects need more scope than repositories; a repository access
            # token may lack it. Mirror what we can.
            return

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
        where = {"repository_id": repo_id}
        listed = await self.read_refs(ctx, where, _name_and_target)
        refs = listed[0] if listed else {}
        moved = False
        if self.wanted("commits") and refs:
            commits = self.run_commits(self.streams["commits"], ctx, repo_id, refs)
            moved = bool(await self.guarded("commits", commits))
        if self.wanted("pullrequests"):
            await self.guarded(
                "pullrequests", self.run_incremental(self.streams["pullrequests"], ctx, repo_id)
            )
        if self.wanted("commits") and refs and (moved or self.options.reconcile):
            self.collect_garbage(repo_id, refs)
        if repo.get("has_issues"):
            for name in ("milestones", "versions", "components"):
                if self.wanted(name):
                    await self.guarded(name, self.run_full(self.streams[name], ctx, where))
            if self.wanted("issues"):
                await self.guarded(
                    "issues", self.run_incremental(self.streams["issues"], ctx, repo_id)
                )
        if self.options.reconcile:
            for name in ("pullrequests", "issues"):
                if self.wanted(name) and (name == "pullrequests" or repo.get("has_issues")):
                    await self.guarded(
                        f"reconcile {name}", self.reconcile_ids(self.streams[name], ctx, where)
                    )


def _name_and_target(ref: dict) -> tuple[str, str | None, bool]:
    return ref["name"], (ref.get("target") or {}).get("hash"), False
