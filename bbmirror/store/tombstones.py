"""Tombstones: rows Bitbucket no longer has are marked deleted, never removed.

Hand-written: sqlite-utils has no soft delete, and these are single set-based UPDATEs (a keep-list
in a temp table, a recursive reachability walk) run inside the Store's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from bbmirror.rows import to_utc
from bbmirror.store.tables import TABLES

# Both joins are primary-key ranges: a commit's id is ``repo/hash``, its parents'
# ``repo/hash/...``; hashes are lowercase hex, so ``'g'`` ends a prefix and ``'0'`` follows ``'/'``.
PR_ROOT_JOIN = """pr_roots r JOIN commits c
  ON c.id >= :repo || '/' || r.short AND c.id < :repo || '/' || r.short || 'g'"""
PARENT_JOIN = """reach r JOIN commit_parents p
  ON p.id >= :repo || '/' || r.hash || '/' AND p.id < :repo || '/' || r.hash || '0'"""


def unreachable_sql(pr_root_join: str, parent_join: str) -> str:
    """The tombstoning UPDATE, given how a PR's short hash and a commit's parents are found.

    The joins are parameters so the benchmark can time the earlier joins in the same frame.
    The CTE sits inside the subquery: Python's sqlite3 reports rowcount -1 for a statement
    that starts with WITH, even when it is an UPDATE.
    """
    return f"""
        UPDATE commits SET deleted_at = :when
        WHERE repository_id = :repo AND deleted_at IS NULL
          AND hash NOT IN (
            WITH RECURSIVE
              pr_roots(short) AS (
                SELECT source_commit FROM pullrequests
                WHERE repository_id = :repo AND deleted_at IS NULL
                UNION SELECT destination_commit FROM pullrequests
                WHERE repository_id = :repo AND deleted_at IS NULL
                UNION SELECT merge_commit FROM pullrequests
                WHERE repository_id = :repo AND deleted_at IS NULL
              ),
              reach(hash) AS (
                SELECT value FROM json_each(:heads)
                UNION SELECT c.hash FROM {pr_root_join}
                UNION SELECT p.parent_hash FROM {parent_join}
              )
            SELECT hash FROM reach
          )"""


UNREACHABLE = unreachable_sql(PR_ROOT_JOIN, PARENT_JOIN)


class Tombstones:
    """The Store's tombstone methods (mixed into ``Store``)."""

    conn: sqlite3.Connection

    if TYPE_CHECKING:  # provided by Store

        def transaction(self) -> AbstractContextManager[None]: ...
        def _data_columns(self, table: str) -> tuple[str, ...]: ...
        def _where(self, table: str, where: Mapping[str, Any] | None) -> tuple[str, list]: ...

    def tombstone(
        self, table: str, where: Mapping[str, Any], keep_ids: Iterable[str], when: str
    ) -> int:
        """Mark rows matching ``where`` whose id is not in ``keep_ids`` as deleted at ``when``."""
        self._data_columns(table)
        cond, args = self._where(table, where)
        with self.transaction():
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _bbm_keep (id TEXT PRIMARY KEY)")
            self.conn.execute("DELETE FROM temp._bbm_keep")
            self.conn.executemany(
                "INSERT OR IGNORE INTO temp._bbm_keep (id) VALUES (?)", ((i,) for i in keep_ids)
            )
            cursor = self.conn.execute(
                f"UPDATE [{table}] SET [deleted_at] = ? WHERE {cond} AND [deleted_at] IS NULL"
                " AND [id] NOT IN (SELECT id FROM temp._bbm_keep)",
                [to_utc(when), *args],
            )
            self.conn.execute("DELETE FROM temp._bbm_keep")
        return cursor.rowcount

    def tombstone_ids(self, table: str, ids: Iterable[str], when: str) -> int:
        """Mark the given rows as deleted at ``when`` (already-tombstoned rows keep their time)."""
        self._data_columns(table)
        stamp = to_utc(when)
        with self.transaction():
            cursor = self.conn.executemany(
                f"UPDATE [{table}] SET [deleted_at] = ? WHERE [id] = ? AND [deleted_at] IS NULL",
                ((stamp, i) for i in ids),
            )
        return cursor.rowcount

    def tombstone_unreachable(self, repository_id: str, heads: Iterable[str], when: str) -> int:
        """Tombstone a repository's commits that nothing reaches any more (after force-pushes).

        Roots are the given heads (branches and tags) plus the commits live pull requests
        point at: Bitbucket keeps those reachable even once their branch is gone. PR objects
        carry 12-character hashes, matched by prefix. Both joins are primary-key ranges
        (``PR_ROOT_JOIN``, ``PARENT_JOIN``): no scan per root or per step.
        """
        args = {
            "when": to_utc(when),
            "repo": repository_id,
            "heads": json.dumps(sorted(set(heads))),
        }
        with self.transaction():
            return self.conn.execute(UNREACHABLE, args).rowcount

    def tombstone_children(
        self,
        table: str,
        column: str,
        parent_table: str,
        when: str,
        repository_id: str | None = None,
    ) -> int:
        """Tombstone live rows whose parent (``column`` → ``parent_table``) is tombstoned,
        in one repository when ``repository_id`` is given (both tables must have the column)."""
        for name, col in ((table, column), (parent_table, "id")):
            if col not in TABLES[name].column_names:
                raise ValueError(f"{name} has no column {col!r}")
        scope, args = "", [to_utc(when)]
        if repository_id is not None:
            scope = " AND [repository_id] = ?"
            args = [args[0], repository_id, repository_id]
        sql = (
            f"UPDATE [{table}] SET [deleted_at] = ? WHERE [deleted_at] IS NULL{scope}"
            f" AND [{column}] IN (SELECT [id] FROM [{parent_table}]"
            f" WHERE [deleted_at] IS NOT NULL{scope})"
        )
        with self.transaction():
            return self.conn.execute(sql, args).rowcount
