"""Stream declarations: one entry per Bitbucket resource, run by the generic engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RowSet = dict[str, list[dict]]
Context = dict[str, str]
RowFunction = Callable[[dict, Context], RowSet]


def using(function: Callable[..., RowSet], *keys: str, **fixed: object) -> RowFunction:
    """Adapt a rows function: pass it ``source`` and the named context keys as keywords.

    ``using(rows.pr_comment, "repository_id", "pullrequest_id")`` calls
    ``rows.pr_comment(obj, source=..., repository_id=..., pullrequest_id=...)``.
    """

    def convert(obj: dict, ctx: Context) -> RowSet:
        return function(obj, source=ctx["source"], **{k: ctx[k] for k in keys}, **fixed)

    return convert


def streams_under(prefix: str, keys: tuple[str, ...], **common: Any) -> Callable[..., Stream]:
    """Declare streams that share a path prefix and fields: each then says only what differs.

    ``streams_under(PR, IN_PR, mode="children")("pr_commits", "commits", "pullrequest_commits",
    rows.pr_commit_link)`` reads ``{PR}/commits``, its rows built ``using`` the ``keys``; a
    declaration's own fields (``keys`` too) override the common ones.
    """

    def declare(
        name: str, tail: str, table: str, function: Callable[..., RowSet], **fields: Any
    ) -> Stream:
        merged = {**common, **fields}
        rows = using(function, *merged.pop("keys", keys))
        return Stream(name, f"{prefix}/{tail}", table, rows, **merged)

    return declare


@dataclass(frozen=True)
class Owned:
    """Rows of ``table`` that a parent (or a child list) carries in full, found by ``column``.

    What the parent no longer carries gets a tombstone; ``only`` narrows which rows count.
    """

    table: str
    column: str
    only: tuple[tuple[str, str], ...] = ()


# What an HTTP status means for a stream (issue 12.3). One policy, declared per stream, read by
# every walker (``Engine.meaning``):
ABSENT = "absent"  # the feature is off (a disabled issue tracker): nothing to mirror
DENIED = "denied"  # no permission or scope: skip the stream's family for the run, note it once
REMOVED = "removed"  # removed upstream for good (Cloud's issue tracker, 410): remember, keep rows
DELETED = "deleted"  # the parent vanished meanwhile: note it, read the parent again next run
FAILED = "failed"  # anything else: record the error, the other streams go on

Policy = tuple[tuple[int, str], ...]
LIST_POLICY: Policy = ((403, DENIED), (404, FAILED), (410, FAILED))
CHILD_POLICY: Policy = ((403, DENIED), (404, DELETED), (410, DELETED))
TRACKER_POLICY: Policy = ((403, DENIED), (404, ABSENT), (410, REMOVED))


@dataclass(frozen=True)
class Stream:
    """How to read one resource and turn it into rows.

    mode:
      - ``incremental``: server-side ``q=<cursor> >= watermark`` and ``sort=<cursor>``, read
        with keyset paging and checkpointed per page; ``children`` run for parents whose
        cursor moved.
      - ``full``: the whole (small) list every run; what is missing gets a tombstone.
      - ``children``: like ``full`` but scoped to one parent, run only when it changed.
      - ``heads``: commits reachable from new branch heads, excluding known heads.
    """

    name: str
    path: str  # template relative to the base URL, e.g. "repositories/{workspace}/{slug}/issues"
    table: str  # the table whose rows this stream owns (tombstones, reconciliation)
    rows: RowFunction
    mode: str = "full"
    params: tuple[tuple[str, str], ...] = ()
    cursor: str | None = None  # incremental: the object field the server filters and sorts on
    markers: tuple[str, ...] = ()  # columns whose change means "fetch the children again"
    children: tuple[str, ...] = ()
    owns: tuple[Owned, ...] = ()  # tables this stream's rows hold completely, per parent
    cascade: tuple[tuple[str, str], ...] = ()  # (table, parent column) that die with a parent
    # Children whose changes move no marker of the parent (build statuses): --reconcile reads
    # them again for every parent.
    refresh: tuple[str, ...] = ()
    scope: str = "repository_id"  # column tying rows to the list they came from ("" = none)
    scope_filter: tuple[tuple[str, str], ...] = ()  # narrows the scope (e.g. found_in=jira)
    paged: bool = True  # False: one GET answering a bare JSON array
    pagelen: int = 100
    family: str = "repository"  # the scope that reads it; a 403 skips the whole family
    statuses: Policy | None = None  # status -> meaning; None: LIST_POLICY, or CHILD_POLICY
    skip: Callable[[dict], bool] | None = None  # parent object → nothing to fetch
    key: str = ""  # row id template from an API id, e.g. "{repository_id}/pr/{id}"
    reconcile_params: tuple[tuple[str, str], ...] = field(default=())
    # The context key a parent's row id takes for its children (with its API ``number``);
    # "" puts it under ``parent_id``.
    child_key: str = ""

    def child_context(self, obj: dict, parent_id: str) -> Context:
        """What this stream's children learn of one parent object."""
        if self.child_key:
            return {self.child_key: parent_id, "number": str(obj["id"])}
        return {"parent_id": parent_id}

    def meaning(self, status: int | None) -> str:
        """What an HTTP status means for this stream (see the policy constants above)."""
        policy = self.statuses or (CHILD_POLICY if self.mode == "children" else LIST_POLICY)
        return dict(policy).get(status or 0, FAILED)

    @property
    def optional(self) -> bool:
        """A 404 or 410 is a normal state here (no tracker, or a removed one)."""
        return self.meaning(404) == ABSENT or self.meaning(410) == REMOVED
