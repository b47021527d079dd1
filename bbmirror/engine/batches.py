"""What a page of parents carries from the walk to its transaction: rows, children, failures."""

from __future__ import annotations

from dataclasses import dataclass, field

from bbmirror.engine.streams import RowSet


@dataclass
class ChildRows:
    """A child list fetched for one parent, and (table, scope, ids to keep) to tombstone by."""

    rows: RowSet
    tombstones: list[tuple[str, dict[str, str], set[str]]]


@dataclass
class ParentPage:
    """A page of parents with their rows, their changed children, and the parents (by API
    number) whose children could not be read and must be read again."""

    parents: list[tuple[dict, RowSet]]
    children: list[ChildRows]
    failed: set[int]
    tried: set[int] = field(default_factory=set)  # parents whose children were read (or tried)
    due: dict[str, list] = field(default_factory=dict)  # children left for later (deferred.py)


def merge(into: RowSet, rows: RowSet) -> None:
    """Add rows to a batch, keeping one row per table and id (the last one wins)."""
    for table, items in rows.items():
        into.setdefault(table, []).extend(items)
