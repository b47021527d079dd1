"""The commit-ranges walker: per moved ref, ``until=<new tip>&since=<old tip>``."""

from __future__ import annotations

from bbmirror.engine.base import Engine, merge
from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.store.db import SyncState

STATUS_TODO = "statuses"  # commits state: tips whose build statuses are still to read


class RangesWalker(Engine):
    """Walks ``ranges`` streams (Data Center commits)."""

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
