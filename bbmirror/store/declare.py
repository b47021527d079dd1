"""The shapes the schema is declared in (tables.py, tables_v5.py): columns, indexes, tables."""

from __future__ import annotations

from dataclasses import dataclass, field


class StoreError(Exception):
    """A condition the user must act on (bad path, locked database, too-new schema)."""


@dataclass(frozen=True)
class Column:
    """One column; ``references`` names the table whose ``id`` it points at."""

    name: str
    type: str = "TEXT"
    references: str | None = None
    since: int = 1


@dataclass(frozen=True)
class Index:
    """A plain (non-unique) index over one or more columns."""

    columns: tuple[str, ...]
    since: int = 1

    def name(self, table: str) -> str:
        return f"idx_{table}_{'_'.join(self.columns)}"


@dataclass(frozen=True)
class Table:
    """A table. Mirrored tables get the shared frame (id, source, json, deleted_at, synced_at)."""

    name: str
    columns: tuple[Column, ...]
    indexes: tuple[Index, ...] = ()
    fts: tuple[str, ...] = ()
    mirrored: bool = True
    primary_key: tuple[str, ...] = ("id",)
    since: int = 1
    all_columns: tuple[Column, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cols = self.columns
        if self.mirrored:
            cols = (
                (Column("id"), Column("source"))
                + cols
                + (Column("json"), Column("deleted_at"), Column("synced_at"))
            )
        object.__setattr__(self, "all_columns", cols)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.all_columns)

    @property
    def foreign_keys(self) -> tuple[Column, ...]:
        return tuple(c for c in self.all_columns if c.references)

    def all_indexes(self) -> tuple[Index, ...]:
        """Declared indexes plus one per foreign-key column not already leading an index."""
        found = list(self.indexes)
        for col in self.foreign_keys:
            if not any(ix.columns[0] == col.name for ix in found):
                found.append(Index((col.name,), since=col.since))
        return tuple(found)


def _cols(spec: str, since: int = 1) -> tuple[Column, ...]:
    """Parse "name type [->table], ..." shorthand; the type defaults to TEXT."""
    out = []
    for part in spec.split(","):
        words = part.split()
        if not words:
            continue
        ref = None
        if "->" in words:
            at = words.index("->")
            ref = words[at + 1]
            words = words[:at]
        out.append(Column(words[0], words[1] if len(words) > 1 else "TEXT", ref, since))
    return tuple(out)


def _ix(*specs: str) -> tuple[Index, ...]:
    return tuple(Index(tuple(s.split(","))) for s in specs)
