"""The commit-heads walker: ``include`` new heads, ``exclude`` the mirrored ones, resumable."""

from __future__ import annotations

from bbmirror.engine.base import (
    Engine,
    merge,
    page_values,
)
from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.engine.walk_guard import LoopGuard
from bbmirror.http import NotFound
from bbmirror.store.db import SyncState

LONG_REF_LIST = 40  # more include/exclude refs than this go in a POST form body


class HeadsWalker(Engine):
    """Walks ``heads`` streams (Cloud commits)."""

    async def run_commits(
        self, stream: Stream, ctx: Context, scope: str, refs: dict[str, str]
    ) -> bool:
        """Walk commits reachable from new heads, excluding the heads already mirrored.

        Returns whether a head the mirror knew is gone (a force-push or deleted ref), so that
        the caller collects unreachable commits once the pull requests are up to date.
        """
        state = self.store.get_state(self.source.name, scope, stream.name)
        state = state or SyncState(source=self.source.name, scope=scope, stream=stream.name)
        before = set(state.heads.values())  # what the mirror holds, for garbage collection
        if self.options.full:
            state.heads, state.resume = {}, None
            state.extra.pop("pending", None)
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
        guard = LoopGuard()
        while body is not None:
            values = page_values(body, path)
            rowset: RowSet = {}
            for obj in values:
                rows = self.to_rows(stream, obj, ctx)
                if rows is not None:
                    merge(rowset, rows)
            following = body.get("next")
            problem = guard.problem(following) if following else None
            with self.store.transaction():
                self.write(rowset)
                state.resume = following
                state.extra["pending"] = refs
                if problem:  # the walk is not complete: the next run starts it afresh
                    state.resume = None
                    state.extra.pop("pending", None)
                elif not following:
                    self._store_heads(state, refs, before)
                    state.resume = None
                    state.extra.pop("pending", None)
                self.store.put_state(state)
            seen += len(values)
            self.progress(ctx.get("full_name", ""), stream.name, seen)
            if problem:
                self.quarantine(stream.name, problem, {"path": path, "next": following})
                return bool(before - set(refs.values()))
            body = await self.client.get(following) if following else None
        if state.heads != refs and not state.resume:
            # Nothing new to walk, but refs moved back or vanished: remember the current set.
            with self.store.transaction():
                self._store_heads(state, refs, before)
                self.store.put_state(state)
        return bool(before - set(refs.values()))

    @staticmethod
    def _store_heads(state: SyncState, refs: dict[str, str], before: set[str]) -> None:
        """The walked heads, and garbage collection due (in the same transaction) when a head
        the mirror held is gone (a force-push or a deleted ref)."""
        state.heads = dict(refs)
        if before - set(refs.values()):
            state.extra["gc"] = True

    async def _commit_query(self, path: str, include: list[str], exclude: list[str]) -> dict:
        refs = [("include", h) for h in include] + [("exclude", h) for h in exclude]
        if len(refs) > LONG_REF_LIST:
            # Bitbucket reads pagelen from the query string only, never from a form body.
            return await self.client.post_form(f"{path}?pagelen=100", refs)
        return await self.client.get(path, [*refs, ("pagelen", "100")])
