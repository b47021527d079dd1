"""When commits that nothing reaches any more are collected (tombstoned), and how.

A force-push or a deleted ref leaves commits unreachable. The commit walk notes it as ``gc`` in
the commits stream's state, in the transaction that stores the new heads; collection clears it
in its own transaction, so a run killed in between leaves the flag and the next run collects.
It is due on that flag or on --reconcile, and only once the walk is complete for the current
refs (heads equal, nothing to resume): otherwise ancestors reached only through a tip not yet
mirrored would look unreachable.
"""

from __future__ import annotations

from typing import Protocol

from bbmirror.store.db import Store, SyncState


class _Options(Protocol):
    reconcile: bool


def due(
    store: Store, source: str, repository_id: str, refs: dict[str, str], options: _Options
) -> SyncState | None:
    """The commits state when collection is due, else None."""
    state = store.get_state(source, repository_id, "commits")
    if state is None or state.heads != refs or state.resume:
        return None
    return state if state.extra.get("gc") or options.reconcile else None


# Rows that exist only because their commit does (table, column naming the commit): a clean
# sync of the same world never reads them once the commit is unreachable.
CASCADE = (
    ("commit_parents", "commit_id"),
    ("jira_links", "commit_id"),
    ("commit_statuses", "commit_id"),
    ("insight_reports", "commit_id"),
    ("insight_annotations", "report_id", "insight_reports"),  # (…, parent table: commits)
)


def collect(store: Store, state: SyncState, refs: dict[str, str], when: str) -> dict[str, int]:
    """Tombstone the unreachable commits and what hangs on them, and clear the flag, in one
    transaction; rows tombstoned per table."""
    with store.transaction():
        gone = {"commits": store.tombstone_unreachable(state.scope, refs.values(), when)}
        for table, column, *parent in CASCADE:
            parent_table = parent[0] if parent else "commits"
            gone[table] = store.tombstone_children(table, column, parent_table, when, state.scope)
        state.extra.pop("gc", None)
        store.put_state(state)
    return gone
