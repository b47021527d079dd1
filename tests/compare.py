"""Compare two bbmirror databases row by row: a trial's mirror against a clean sync of the
same world into a fresh database (the reference).

Every mirrored table is compared on every column, the stored JSON included (parsed, so key
order does not count). Two columns legitimately depend on the run and are compared as
presence only: ``synced_at`` (when this database wrote the row) and ``deleted_at`` (when this
database saw the row vanish; alive or tombstoned is what counts). The run log (``sync_runs``,
``sync_errors``, ``sync_state``, ``_migrations``) describes runs, not Bitbucket, and is not
compared; ``sources`` is compared without its timestamps.

Each difference is one of:

- lost: alive in the reference, missing or tombstoned in the trial;
- stale: alive in both, but some value differs (the trial kept an old version);
- doubled: alive in the trial only, with the same content as a reference row under another id;
- extra: alive in the trial only otherwise: a deletion the trial never tombstoned, or a row
  the clean sync itself does not read (check such rows against the world).

Rows of ``commit_statuses`` alive in the trial only may belong to commits whose statuses a
clean sync never reads (no longer a tip or a PR's source: Bitbucket has no list of every
status). Given a ``world`` lookup, such a row is checked against the world instead: *beyond*
when the world has it as stored, *frozen* when the world moved on (README "Limits": statuses of
such commits keep their last read). Neither counts as a difference; both are reported.

``python tests/compare.py REFERENCE.db TRIAL.db`` lists every difference.

A row tombstoned in the trial and absent from the reference is correct: it was deleted
upstream after the trial first saw it, and a fresh database never saw it.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bbmirror.store.schema import MIRRORED

KINDS = ("lost", "doubled", "stale", "extra")
OUTSIDE = ("beyond", "frozen")  # trial-only statuses checked against the world
CHECKED_AGAINST_WORLD = ("commit_statuses",)
PRESENCE_ONLY = ("synced_at",)  # run-dependent timestamps: compared as "is set"
TOMBSTONE = "deleted_at"  # run-dependent time: alive vs tombstoned is compared
UNMIRRORED = {"sources": ("id", "kind", "base_url")}  # compared without added_at/updated_at


@dataclass(frozen=True)
class Difference:
    """One row that differs, with enough detail to find it."""

    table: str
    key: str
    kind: str
    detail: str = ""


@dataclass
class Comparison:
    """The outcome of comparing a trial database with its reference."""

    rows: int = 0  # rows alive in the reference, all tables
    differences: list[Difference] = field(default_factory=list)
    outside: list[Difference] = field(default_factory=list)  # beyond or frozen (see above)

    def count(self, kind: str) -> int:
        return sum(1 for d in (*self.differences, *self.outside) if d.kind == kind)

    def by_table(self) -> Counter:
        """How many differences of each kind per table, e.g. {("commit_statuses", "lost"): 3}."""
        return Counter((d.table, d.kind) for d in self.differences)

    @property
    def equal(self) -> bool:
        return not self.differences

    def summary(self, limit: int = 3) -> str:
        """One line per (table, kind) with a few example keys."""
        lines = []
        for (table, kind), n in sorted(self.by_table().items()):
            examples = [d for d in self.differences if d.table == table and d.kind == kind]
            shown = "; ".join(f"{d.key} {d.detail}".strip() for d in examples[:limit])
            lines.append(f"{table}: {n} {kind} (e.g. {shown})")
        return "\n".join(lines)


Row = dict[str, object]
# A trial-only row -> whether the world holds it as stored (True), otherwise (False).
World = Callable[[str, Row], bool]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'pragma table_info("{table}")')]


def _value(column: str, value: object) -> object:
    if column in PRESENCE_ONLY:
        return value is not None
    if column == "json" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> dict[str, Row]:
    names = ", ".join(f'"{c}"' for c in columns)
    found: dict[str, Row] = {}
    for values in conn.execute(f'select {names} from "{table}"'):
        row = {c: _value(c, v) for c, v in zip(columns, values, strict=True)}
        key = str(row["id"])
        assert key not in found, f"{table}: two rows with id {key}"  # a primary key broke
        found[key] = row
    return found


def _content(row: Row) -> str:
    """A row's content without its identity or run-dependent columns, to spot doubles."""
    kept = {c: v for c, v in row.items() if c not in ("id", TOMBSTONE, *PRESENCE_ONLY)}
    return json.dumps(kept, sort_keys=True, default=str)


def _compare_table(
    table: str,
    reference: dict[str, Row],
    trial: dict[str, Row],
    out: Comparison,
    world: World | None = None,
) -> None:
    alive_ref = {k: r for k, r in reference.items() if r.get(TOMBSTONE) is None}
    alive_trial = {k: r for k, r in trial.items() if r.get(TOMBSTONE) is None}
    out.rows += len(alive_ref)
    for key, want in alive_ref.items():
        have = trial.get(key)
        if have is None:
            out.differences.append(Difference(table, key, "lost", "missing"))
        elif key not in alive_trial:
            out.differences.append(Difference(table, key, "lost", "tombstoned"))
        else:
            columns = sorted(c for c in want if c != TOMBSTONE and want[c] != have.get(c))
            if columns:
                out.differences.append(Difference(table, key, "stale", ",".join(columns)))
    contents = {_content(r) for r in alive_ref.values()}
    for key, have in alive_trial.items():
        if key in alive_ref:
            continue
        kind = "doubled" if _content(have) in contents else "extra"
        detail = "tombstoned upstream" if key in reference else "absent upstream"
        if kind == "extra" and world is not None and table in CHECKED_AGAINST_WORLD:
            verdict = "beyond" if world(table, have) else "frozen"
            out.outside.append(Difference(table, key, verdict, "not read by a clean sync"))
            continue
        out.differences.append(Difference(table, key, kind, detail))


def compare(reference_db: str, trial_db: str, world: World | None = None) -> Comparison:
    """Every difference between a trial database and the clean reference."""
    out = Comparison()
    ref = sqlite3.connect(f"file:{reference_db}?mode=ro", uri=True)
    trial = sqlite3.connect(f"file:{trial_db}?mode=ro", uri=True)
    try:
        for table in (*MIRRORED, *UNMIRRORED):
            columns = list(UNMIRRORED.get(table, ())) or _columns(ref, table)
            have = _columns(trial, table)
            if table not in UNMIRRORED and have != columns:
                raise AssertionError(f"{table}: schema differs ({have} vs {columns})")
            ref_rows, trial_rows = _rows(ref, table, columns), _rows(trial, table, columns)
            _compare_table(table, ref_rows, trial_rows, out, world)
    finally:
        ref.close()
        trial.close()
    return out


if __name__ == "__main__":
    import sys

    found = compare(sys.argv[1], sys.argv[2])
    print(f"{found.rows} reference rows; " + ", ".join(f"{k} {found.count(k)}" for k in KINDS))
    for d in found.differences:
        print(d.kind, d.table, d.key, d.detail)
