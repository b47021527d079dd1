"""The order of work for a Bitbucket Server / Data Center source (bitbucket-server.md §3).

Server has no "updated since" filter, so:

* Pull requests are paged newest first (``state=ALL&order=NEWEST``) and the walk stops at the
  first page that reaches below the watermark minus the overlap, but only while the pages
  are seen to be in descending ``updatedDate`` order; otherwise the whole list is read (the
  sort key of NEWEST is undocumented, §3.1). Open PRs are re-listed every run. A PR whose
  change markers moved (``updatedDate``, ``version``, comment and task counts, state) gets its
  activities (the change log and the only complete source of comments), commits and Jira
  issues again. A page and its children commit together; the watermark moves at the end, so
  a killed run simply starts again from the top, where unchanged PRs cost nothing.
* Commits are read per moved ref as graph ranges: ``until=<new tip>&since=<old tip>``, and a new
  ref ``since`` the default branch. Build statuses are read for every new tip.
* A complete PR list (the first run, a non-monotonic order, or ``--reconcile``) tombstones PRs
  that vanished; ``--reconcile`` also re-reads the children of every PR.
"""

from __future__ import annotations

import asyncio

from bbmirror.engine import freshness
from bbmirror.engine.base import OVERLAP, ChildRows, Engine, SyncError, before_watermark, merge
from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.engine.watermark import ceiling, future, usable
from bbmirror.engine.watermark import newest as newest_of
from bbmirror.flavours.server.streams import API
from bbmirror.http import NotFound
from bbmirror.rows import pullrequest_key
from bbmirror.store.db import SyncState

STATUS_TODO = "statuses"  # commits state: tips whose build statuses are still to read


class ServerSync(Engine):
    """The order of work for one Bitbucket Data Center source."""

    async def preflight(self) -> None:
        """Check credentials, projects and repositories before anything is written.

        ``/users`` needs a licensed user, which project and repository HTTP access tokens are
        not: it checks the login only when nothing is named. After a good preflight a 401 on
        one repository's stream is a missing permission there (Server's AuthorisationException)
        and skips that family of that repository (sync_policy), not the run.
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
            # Tips whose builds are still running are read again (freshness.py);
            # --reconcile reads every tip's.
            tips = set(refs.values())
            extra = (
                sorted(tips)
                if self.options.reconcile
                else freshness.tips_building(self.store, repo_id, tips)
            )
            await self.guarded("statuses", self.statuses(ctx, repo_id, extra), ctx)
        if self.wanted("pullrequests"):
            newest = self.run_newest(self.streams["pullrequests"], ctx, repo_id)
            await self.guarded("pullrequests", newest, ctx)
        if self.wanted("commits") and refs:
            self.collect_garbage(repo_id, refs)

    async def run_ranges(
        self, stream: Stream, ctx: Context, scope: str, refs: dict[str, str], default: str | None
    ) -> tuple[bool, list[str]]:
        """Walk each moved ref's new commits; return (a known ref moved or vanished, new tips)."""
        stored = self.store.get_state(self.source.name, scope, stream.name)
        state = stored or SyncState(source=self.source.name, scope=scope, stream=stream.name)
        before = dict(state.heads)  # what the mirror holds, for garbage collection
        if self.options.full:
            state.heads = {}
        known = dict(state.heads)
        order = sorted(refs, key=lambda ref: (ref != default, ref))
        path = stream.path.format(**ctx)
        new_heads = []
        for ref in order:
            tip = refs[ref]
            if state.heads.get(ref) == tip:
                continue
            since = known.get(ref)
            if since is None and default and ref != default:
                since = state.heads.get(default)  # a new ref: what the default branch lacks
            params = [("until", tip), ("limit", str(stream.pagelen))]
            if since:
                params += [("since", since), ("ignoreMissing", "true")]
            async for page in self.client.pages(path, params):
                rowset: RowSet = {}
                for obj in page.values:
                    merge(rowset, self.to_rows(stream, obj, ctx) or {})
                with self.store.transaction():
                    self.write(rowset)
                    if page.next is None:
                        # The tip, its statuses to read and a moved head's garbage collection
                        # are remembered together, in the transaction that completes the walk.
                        state.heads[ref] = tip
                        todo = {*state.extra.get(STATUS_TODO, []), tip}
                        state.extra[STATUS_TODO] = sorted(todo)
                        if before.get(ref) not in (None, tip):
                            state.extra["gc"] = True
                        self.store.put_state(state)
            new_heads.append(tip)
        if set(state.heads) - set(refs) or set(before) - set(refs):
            with self.store.transaction():
                state.heads = {ref: tip for ref, tip in state.heads.items() if ref in refs}
                state.extra["gc"] = True
                self.store.put_state(state)
        moved = any(refs.get(ref) != tip for ref, tip in before.items())
        return moved, new_heads

    async def statuses(self, ctx: Context, scope: str, extra: list[str]) -> None:
        """Build statuses of the tips still to read (plus ``extra``); each one read leaves the
        to-do list in the transaction that writes it, one that failed stays for the next run."""
        stream = self.streams["statuses"]
        state = self.store.get_state(self.source.name, scope, self.streams["commits"].name)
        heads = sorted({*(state.extra.get(STATUS_TODO, []) if state else []), *extra})
        if not heads:
            return
        jobs = [self.fetch_child(stream, {**ctx, "commit_hash": sha}, sha) for sha in heads]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        done = set()
        with self.store.transaction():
            for sha, child in zip(heads, results, strict=True):
                if isinstance(child, ChildRows):
                    self.write(child.rows)
                    done.add(sha)
            if state is not None:
                state.extra[STATUS_TODO] = sorted(set(state.extra.get(STATUS_TODO, [])) - done)
                self.store.put_state(state)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def run_newest(self, stream: Stream, ctx: Context, scope: str) -> None:
        """Newest-first PR pages down to the watermark, then every open PR (see module doc)."""
        state = self.store.get_state(self.source.name, scope, stream.name)
        if state is None or self.options.full:
            state = SyncState(source=self.source.name, scope=scope, stream=stream.name)
        children = self.plan_children(stream, state, scope, False)
        deep = self.options.reconcile or self.options.full or children.restart
        mark = usable(state.watermark, ceiling(self.client.server_date))
        floor = None if deep else before_watermark(mark, OVERLAP)
        path = stream.path.format(**ctx)
        seen: set[str] = set()
        newest = mark
        previous: str | None = None  # the oldest updatedDate of the pages so far
        monotonic, complete = True, True
        await self.redo(stream, ctx, state)
        pages = self.client.pages(path, [*stream.params, *self.page_size(stream)])
        async for page in pages:
            dates = await self.pr_page(stream, ctx, page.values, seen, state)
            if not dates:
                continue
            limit = ceiling(self.client.server_date)  # never a mark ahead of the server
            for reason, payload in future(page.values, "updatedDate", limit):
                self.quarantine(stream.name, reason, payload)
            newest = max(filter(None, (newest, newest_of(dates, limit))), default=None)
            ordered = dates == sorted(dates, reverse=True) and (
                previous is None or dates[0] <= previous
            )
            monotonic = monotonic and ordered
            previous = dates[-1]
            if floor and monotonic and previous < floor:
                complete = False
                await pages.aclose()
                break
        # Open PRs every run: they change in ways that may not move updatedDate (§3.2 4d).
        params = [("state", "OPEN"), ("order", "NEWEST"), *self.page_size(stream)]
        async for page in self.client.pages(path, params):
            await self.pr_page(stream, ctx, page.values, seen, state)
        with self.store.transaction():
            # The open list is complete: an open PR that no list showed was deleted.
            self.tombstone_missing(stream, {"repository_id": scope, "state": "OPEN"}, seen)
            if complete:
                self.tombstone_missing(stream, {"repository_id": scope}, seen)
            state.watermark = newest
            children.complete(state)
            self.store.put_state(state)

    async def pr_page(
        self, stream: Stream, ctx: Context, values: list[dict], seen: set[str], state: SyncState
    ) -> list[str]:
        """Write one page of PRs with the children of those that changed; their dates.

        A PR that could not be converted is quarantined, never tombstoned: its id still counts
        as seen (and when it has no usable id, every alive PR of the repository does).
        """
        page = await self.read_parents(stream, ctx, values)
        with self.store.transaction():
            self.write_parents(stream, page, state)
            if page.failed:
                self.store.put_state(state)
        written = [r for _, rows in page.parents for r in rows.get(stream.table, ())]
        seen.update(r["id"] for r in written)
        if len(page.parents) < len(values):
            seen.update(self.unconverted(ctx, values, seen))
        self.progress(ctx.get("full_name", ""), stream.name, len(seen))
        return [r["updated_on"] for r in written if r.get("updated_on")]

    def unconverted(self, ctx: Context, values: list, seen: set[str]) -> set[str]:
        """Ids that quarantined PRs of a page stand for, so that none is taken for deleted."""
        keep: set[str] = set()
        for value in values:
            number = value.get("id") if isinstance(value, dict) else None
            if type(number) is not int:
                return self.store.ids(
                    self.streams["pullrequests"].table, {"repository_id": ctx["repository_id"]}
                )
            keep.add(pullrequest_key(ctx["repository_id"], number))
        return keep - seen


def _full_name(repo: dict) -> str:
    return f"{(repo.get('project') or {}).get('key')}/{repo.get('slug')}"


def _name_and_target(ref: dict) -> tuple[str, str | None, bool]:
    return ref["displayId"], ref.get("latestCommit"), bool(ref.get("isDefault"))
