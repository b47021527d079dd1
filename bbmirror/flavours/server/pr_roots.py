"""Commits only pull requests reach: a clean sync reads what an incremental one keeps.

Garbage collection (store/tombstones.py) keeps what a live pull request's source, destination
or merge commit reaches, and Bitbucket still serves those commits once no ref reaches them
(a merged PR's merge commit after its target branch was force-pushed back). The ref walk
(engine/ranges.py) never lists them, so a clean sync lacked what an incremental one kept.
After the PRs and their commit lists, each such commit the mirror lacks is walked as
``until=<commit>&since=<default branch tip>``; a mirror whose refs reach every PR asks nothing.
A commit Bitbucket no longer has (an empty answer) is remembered and not asked again.
"""

from __future__ import annotations

from bbmirror.engine.base import Engine, merge
from bbmirror.engine.streams import Context, RowSet

GONE = "pr_roots_gone"  # commits state: PR commits Bitbucket answered nothing for

MISSING = """
    SELECT r.hash FROM (
      SELECT source_commit AS hash FROM pullrequests WHERE repository_id = :repo
        AND deleted_at IS NULL AND coalesce(source_repository_id, :repo) = :repo
      UNION SELECT destination_commit FROM pullrequests
        WHERE repository_id = :repo AND deleted_at IS NULL
      UNION SELECT merge_commit FROM pullrequests
        WHERE repository_id = :repo AND deleted_at IS NULL
    ) r
    WHERE r.hash IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM commits c WHERE c.id = :repo || '/' || r.hash AND c.deleted_at IS NULL)
    ORDER BY r.hash"""


def missing(engine: Engine, repository_id: str) -> list[str]:
    """Commits of the repository's own live PRs that the mirror holds no live row for."""
    return [row[0] for row in engine.store.conn.execute(MISSING, {"repo": repository_id})]


async def read_pr_roots(
    engine: Engine, ctx: Context, scope: str, refs: dict[str, str], default: str | None
) -> None:
    """Walk each missing PR commit, once the ref walk of these ``refs`` is complete."""
    state = engine.store.get_state(engine.source.name, scope, "commits")
    if state is None or state.heads != refs or state.resume:
        return  # the ref walk is not complete: what it lacks would look missing
    stream = engine.streams["commits"]
    path = stream.path.format(**ctx)
    since = refs.get(default or "")
    asked: set[str] = set(state.extra.get(GONE, []))
    while todo := [sha for sha in missing(engine, scope) if sha not in asked]:
        root = todo[0]
        asked.add(root)
        params = [("until", root), ("limit", str(stream.pagelen)), ("ignoreMissing", "true")]
        params += [("since", since)] if since else []
        found = False
        async for page in engine.client.pages(path, params):
            rowset: RowSet = {}
            for obj in page.values:
                merge(rowset, engine.to_rows(stream, obj, ctx) or {})
            found = found or any(r["hash"] == root for r in rowset.get(stream.table, ()))
            with engine.store.transaction():
                engine.write(rowset)
        if not found:
            with engine.store.transaction():
                state.extra[GONE] = sorted({*state.extra.get(GONE, []), root})
                engine.store.put_state(state)
