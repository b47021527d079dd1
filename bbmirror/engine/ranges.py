"""The commit-ranges walker: per moved ref, ``until=<new tip>&since=<old tip>``.

A ref whose new tip the mirror already reaches (a branch created at, or moved back to, a commit
below a walked head; a tag on the default branch) needs no walk: its graph is there (issue 14).
"Reached" means an ancestor of a head whose walk completed, through stored parent links; a
commit stored by a walk cut short, or only from a pull request's commit list, does not count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bbmirror.engine.base import Engine, merge
from bbmirror.engine.streams import Context, RowSet, Stream
from bbmirror.store.db import Store, SyncState

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
        new_heads: list[str] = []
        reach: set[str] | None = None  # commits below completed heads, computed when needed
        for ref in order:
            tip = refs[ref]
            if state.heads.get(ref) == tip:
                continue
            if reach is None and not self.options.full:
                reach = reached(self.store, scope, state.heads.values())
            if reach is not None and tip in reach:
                with self.store.transaction():
                    self._walked(state, before, ref, tip)
                new_heads.append(tip)
                continue
            since = known.get(ref)
            if since is None and default and ref != default:
                since = state.heads.get(default)  # a new ref: what the default branch lacks
            params = [("until", tip), ("limit", str(stream.pagelen))]
            if since:
                params += [("since", since), ("ignoreMissing", "true")]
            walked = {tip}
            async for page in self.client.pages(path, params):
                rowset: RowSet = {}
                for obj in page.values:
                    merge(rowset, self.to_rows(stream, obj, ctx) or {})
                walked.update(row["hash"] for row in rowset.get(stream.table, ()))
                with self.store.transaction():
                    self.write(rowset)
                    if page.next is None:
                        self._walked(state, before, ref, tip)
            if reach is not None and state.heads.get(ref) == tip:
                reach |= walked  # the range and what its ``since`` reaches: tip's ancestry
            new_heads.append(tip)
        if set(state.heads) - set(refs) or set(before) - set(refs):
            with self.store.transaction():
                state.heads = {ref: tip for ref, tip in state.heads.items() if ref in refs}
                state.extra["gc"] = True
                self.store.put_state(state)
        moved = any(refs.get(ref) != tip for ref, tip in before.items())
        return moved, new_heads

    def _walked(self, state: SyncState, before: dict[str, str], ref: str, tip: str) -> None:
        """Remember a ref's tip, its statuses to read and a moved head's garbage collection
        together; call in the transaction that completes its walk (or finds none needed)."""
        state.heads[ref] = tip
        state.extra[STATUS_TODO] = sorted({*state.extra.get(STATUS_TODO, []), tip})
        if before.get(ref) not in (None, tip):
            state.extra["gc"] = True
        self.store.put_state(state)


def reached(store: Store, repository_id: str, heads: Iterable[str]) -> set[str]:
    """Hashes of the stored commits at or below ``heads``, through live parent links (a
    commit's parents are ``repo/hash/N``: a primary-key range per step, as in tombstones.py)."""
    sql = """
        WITH RECURSIVE reach(hash) AS (
          SELECT value FROM json_each(:heads)
          UNION
          SELECT p.parent_hash FROM reach r JOIN commit_parents p
            ON p.id >= :repo || '/' || r.hash || '/' AND p.id < :repo || '/' || r.hash || '0'
          WHERE p.deleted_at IS NULL
        )
        SELECT r.hash FROM reach r JOIN commits c
          ON c.id = :repo || '/' || r.hash AND c.deleted_at IS NULL"""
    args = {"repo": repository_id, "heads": json.dumps(sorted(set(heads)))}
    return {row[0] for row in store.conn.execute(sql, args)}
