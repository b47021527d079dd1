"""bbmirror's SQLite schema, declared once, and the numbered migrations that build it.

Everything a database holds is declared in ``TABLES``: columns, types, primary keys, foreign
keys, indexes and full-text search. Nothing is inferred from rows (DESIGN.md principle 2).

How migrations work: every table, column and index carries ``since``, the schema version that
introduced it. Migration N creates the tables, adds the columns (``ALTER TABLE ... ADD COLUMN``)
and builds the indexes whose ``since`` is N, then runs its hand-written ``extra`` SQL (for
triggers, data fixes, or anything that is not additive). So ``TABLES`` always shows the current
schema, and old databases reach it by replaying only what is new to them. To change the schema:
append a ``Migration`` and tag what it adds with its version; never edit an applied migration.

Choices where the brief and the reference are silent:

- Mirrored tables share a frame: ``id TEXT PRIMARY KEY`` (stable, from immutable API ids),
  ``source`` (the configured Bitbucket instance), the flattened columns, ``json`` (the object as
  the API returned it), ``deleted_at`` (tombstone) and ``synced_at`` (when the row's current
  content was written; an identical re-sync leaves it alone).
- Foreign keys are declared (Datasette follows them) but never enforced: ``PRAGMA foreign_keys``
  stays off, because a resumed sync may write children before their parents, and tombstoned
  parents keep their children.
- Every foreign-key column is indexed (unless a declared index already starts with it).
  ``source`` is a plain label, not a foreign key, so no table pays for a low-value index on it.
- ``pullrequests.closed_on`` is derived from ``update`` activity entries (Cloud PR objects
  carry no close time): the earliest ``update`` whose state equals the PR's closed state. A
  trigger fills it when activity arrives; ``AFTER_WRITE`` fills (or lowers) it when the PR
  arrives after its activity, so a Data Center ``closedDate`` of a later close gives way too.
  An upsert that carries no ``closed_on`` keeps the derived one (``ON_CONFLICT``).
- Full-text search uses FTS5 external-content tables named ``<table>_fts`` with the same
  triggers sqlite-utils' ``enable_fts(create_triggers=True)`` writes, so Datasette and
  sqlite-utils recognise them. They index by rowid: after a ``VACUUM`` (which may renumber rowids
  of tables without an INTEGER PRIMARY KEY) rebuild them (``Store.vacuum`` does both).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime


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


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "sources",
            _cols("id, kind, base_url, added_at, updated_at"),
            mirrored=False,
        ),
        Table(
            "users",
            _cols(
                "uuid, account_id, username, nickname, display_name, email, kind,"
                " account_status, created_on"
            ),
            _ix("uuid", "account_id", "nickname"),
        ),
        Table(
            "workspaces",
            _cols("uuid, slug, name, is_private INTEGER, created_on, updated_on"),
            _ix("slug"),
        ),
        Table(
            "workspace_members",
            _cols(
                "workspace_id -> workspaces, user_id -> users, permission, added_on, last_accessed"
            ),
        ),
        Table(
            "projects",
            _cols(
                "workspace_id -> workspaces, key, name, description, is_private INTEGER,"
                " created_on, updated_on"
            ),
            _ix("key"),
        ),
        Table(
            "repositories",
            _cols(
                "workspace_id -> workspaces, project_id -> projects, owner_id -> users,"
                " parent_id -> repositories, slug, full_name, name, description, scm,"
                " is_private INTEGER, has_issues INTEGER, has_wiki INTEGER, fork_policy,"
                " language, size INTEGER, mainbranch, website, created_on, updated_on"
            ),
            _ix("slug", "full_name", "updated_on"),
        ),
        Table(
            "pullrequests",
            _cols(
                "repository_id -> repositories, number INTEGER, title, description,"
                " description_html, state, author_id -> users,"
                " source_repository_id -> repositories, source_branch, source_commit,"
                " destination_repository_id -> repositories, destination_branch,"
                " destination_commit, merge_commit, closed_by_id -> users, reason,"
                " comment_count INTEGER, task_count INTEGER, close_source_branch INTEGER,"
                " draft INTEGER, version INTEGER, created_on, updated_on, closed_on"
            ),
            _ix(
                "repository_id,number",
                "repository_id,updated_on",
                "number",
                "state",
                "created_on",
                "updated_on",
                "closed_on",
            ),
            fts=("title", "description"),
        ),
        Table(
            "pullrequest_participants",
            _cols(
                "pullrequest_id -> pullrequests, repository_id -> repositories,"
                " user_id -> users, role, is_reviewer INTEGER, approved INTEGER, state,"
                " participated_on, last_reviewed_commit"
            ),
            _ix("state"),
        ),
        Table(
            "pullrequest_activity",
            _cols(
                "pullrequest_id -> pullrequests, repository_id -> repositories, kind, date,"
                " user_id -> users, comment_id -> comments, state, source_commit,"
                " destination_commit, activity_id INTEGER"
            ),
            _ix("repository_id,date", "kind", "date"),
        ),
        Table(
            "pullrequest_commits",
            _cols(
                "pullrequest_id -> pullrequests, repository_id -> repositories,"
                " commit_id -> commits, hash"
            ),
            _ix("hash"),
        ),
        Table(
            "comments",
            _cols(
                "kind, repository_id -> repositories, pullrequest_id -> pullrequests,"
                " issue_id -> issues, parent_id -> comments, comment_id INTEGER,"
                " user_id -> users, body, body_html, inline_path, inline_from INTEGER,"
                " inline_to INTEGER, deleted INTEGER, state, severity, version INTEGER,"
                " created_on, updated_on"
            ),
            _ix("repository_id,updated_on", "comment_id", "kind", "created_on"),
            fts=("body",),
        ),
        Table(
            "commits",
            _cols(
                "repository_id -> repositories, hash, author_raw, author_name, author_email,"
                " author_id -> users, date, committer_raw, committer_date, message,"
                " parent_count INTEGER"
            ),
            _ix("repository_id,date", "hash", "author_email", "date"),
            fts=("message",),
        ),
        Table(
            "commit_parents",
            _cols(
                "commit_id -> commits, repository_id -> repositories, parent_hash,"
                " parent_id -> commits, position INTEGER"
            ),
            _ix("parent_hash"),
        ),
        Table(
            "commit_statuses",
            _cols(
                "commit_id -> commits, repository_id -> repositories, commit_hash, key, state,"
                " name, description, url, refname, created_on, updated_on"
            ),
            _ix("repository_id,updated_on", "commit_hash", "state", "key"),
        ),
        Table(
            "branches",
            _cols(
                "repository_id -> repositories, name, target_hash, target_id -> commits,"
                " is_default INTEGER"
            ),
            _ix("name"),
        ),
        Table(
            "tags",
            _cols(
                "repository_id -> repositories, name, target_hash, target_id -> commits,"
                " date, message, tagger_raw, tagger_id -> users"
            ),
            _ix("name"),
        ),
        Table(
            "milestones",
            _cols("repository_id -> repositories, api_id INTEGER, name"),
            _ix("name"),
        ),
        Table(
            "versions",
            _cols("repository_id -> repositories, api_id INTEGER, name"),
            _ix("name"),
        ),
        Table(
            "components",
            _cols("repository_id -> repositories, api_id INTEGER, name"),
            _ix("name"),
        ),
        Table(
            "issues",
            _cols(
                "repository_id -> repositories, number INTEGER, title, content, content_html,"
                " markup, state, kind, priority, reporter_id -> users, assignee_id -> users,"
                " milestone_id -> milestones, version_id -> versions,"
                " component_id -> components, milestone_name, version_name, component_name,"
                " votes INTEGER, watchers, created_on, updated_on, edited_on,"
                " content_updated_on, origin"
            ),
            _ix(
                "repository_id,number",
                "repository_id,updated_on",
                "number",
                "state",
                "kind",
                "priority",
                "created_on",
                "updated_on",
            ),
            fts=("title", "content"),
        ),
        Table(
            "issue_changes",
            _cols(
                "issue_id -> issues, repository_id -> repositories, change_id INTEGER,"
                " user_id -> users, created_on, message, message_html, changes"
            ),
            _ix("created_on"),
        ),
        Table(
            "issue_change_items",
            _cols(
                "change_id -> issue_changes, issue_id -> issues, repository_id -> repositories,"
                " user_id -> users, created_on, field, old, new"
            ),
            _ix("field,new", "created_on"),
        ),
        Table(
            "issue_attachments",
            _cols(
                "issue_id -> issues, repository_id -> repositories, name, path,"
                " user_id -> users, content BLOB, size INTEGER, created_on"
            ),
            _ix("name"),
        ),
        Table(
            "jira_links",
            _cols(
                "repository_id -> repositories, pullrequest_id -> pullrequests,"
                " commit_id -> commits, issue_key, url, found_in",
                since=3,
            ),
            (Index(("issue_key",), since=3), Index(("found_in",), since=3)),
            since=3,
        ),
        Table(
            "sync_state",
            _cols("source, scope, stream, watermark, resume, heads, extra, updated_at"),
            mirrored=False,
            primary_key=("source", "scope", "stream"),
        ),
        Table(
            "sync_runs",
            _cols(
                "id INTEGER, source, started_at, finished_at, outcome, options, rows,"
                " requests INTEGER, errors INTEGER, message, pid INTEGER"
            ),
            _ix("source,started_at", "outcome"),
            mirrored=False,
        ),
        Table(
            "sync_errors",
            _cols(
                "id INTEGER, run_id INTEGER -> sync_runs, source, stream, reason, payload,"
                " created_at"
            ),
            _ix("source,stream"),
            mirrored=False,
        ),
    )
}

MIRRORED: tuple[str, ...] = tuple(name for name, t in TABLES.items() if t.mirrored)

# Columns whose upsert value is not simply the incoming one: "{t}" is the stored row.
# closed_on is derived from activity (triggers below), so a PR row without it keeps it unless
# the PR is open again; attachment bytes come from a separate download (or an archive) and a
# metadata-only re-list must not erase them.
ON_CONFLICT: dict[str, dict[str, str]] = {
    "pullrequests": {
        "closed_on": "CASE WHEN excluded.[state] = 'OPEN' THEN excluded.[closed_on]"
        " ELSE COALESCE(excluded.[closed_on], {t}.[closed_on]) END",
    },
    "issue_attachments": {
        "content": "COALESCE(excluded.[content], {t}.[content])",
        "size": "COALESCE(excluded.[size], {t}.[size])",
    },
}

_CLOSED = "('MERGED', 'DECLINED', 'SUPERSEDED')"
CLOSED_ON_TRIGGERS: tuple[str, ...] = (
    f"""CREATE TRIGGER [pullrequest_activity_closed_on] AFTER INSERT ON [pullrequest_activity]
    WHEN NEW.[kind] = 'update' AND NEW.[state] IN {_CLOSED} AND NEW.[date] IS NOT NULL
    BEGIN
      UPDATE [pullrequests] SET [closed_on] = NEW.[date]
      WHERE [id] = NEW.[pullrequest_id] AND [state] = NEW.[state]
        AND ([closed_on] IS NULL OR [closed_on] > NEW.[date]);
    END""",
)

# SQL the store runs after upserting rows into a table, with one parameter: a JSON array of the
# ids just written. (A trigger on pullrequests cannot do this: SQLite fires triggers newest
# first, so an UPDATE from an INSERT trigger would reach the FTS index before the row does.)
# The earliest close wins whichever came first, so that an incremental run (a Data Center
# closedDate of a second decline over stored activity) stores what a full sync does.
_FIRST_CLOSE = """(
        SELECT min(a.[date]) FROM [pullrequest_activity] a
        WHERE a.[pullrequest_id] = [pullrequests].[id] AND a.[kind] = 'update'
          AND a.[state] = [pullrequests].[state] AND a.[date] IS NOT NULL
      )"""
AFTER_WRITE: dict[str, str] = {
    "pullrequests": f"""UPDATE [pullrequests] SET [closed_on] = {_FIRST_CLOSE}
      WHERE [id] IN (SELECT value FROM json_each(?)) AND [state] IN {_CLOSED}
        AND {_FIRST_CLOSE} IS NOT NULL
        AND ([closed_on] IS NULL OR [closed_on] > {_FIRST_CLOSE})""",
}


@dataclass(frozen=True)
class Migration:
    """One schema version: the declared objects tagged with it, then ``extra`` SQL."""

    version: int
    name: str
    extra: tuple[str, ...] = ()


# Views (and an index) the Datasette reports and dashboards build on (datasette-metadata.json):
# one row per alive PR or issue, names resolved, durations computed. Choices where the brief is
# silent:
# - a PR's first review is the earliest approval, change request or comment by anyone but its
#   author (from pullrequest_activity); review_hours and cycle_hours (opened -> merged) are hours
#   from created_on, rounded to 0.01; approvals count current approvers other than the author;
# - an issue is resolved when its state is resolved, invalid, duplicate, wontfix or closed, and
#   resolved_on is the latest change-log entry that moved it from another state into one of
#   those (so a reopened-then-closed issue counts from its creation to its final resolution);
#   resolve_days is in days, rounded to 0.01. Open issues are new, open, on hold or submitted.
# The index covers the first-review lookup (a third faster on a medium mirror); it lives in this
# migration's SQL rather than in TABLES so that no existing table declaration changes.
REPORT_SCHEMA: tuple[str, ...] = (
    "CREATE INDEX [idx_pullrequest_activity_reviews] ON [pullrequest_activity]"
    " ([pullrequest_id], [kind], [date], [user_id], [deleted_at])",
    """CREATE VIEW [pullrequest_metrics] AS
SELECT m.*,
  CASE WHEN m.merged_on IS NOT NULL
    THEN round((julianday(m.merged_on) - julianday(m.created_on)) * 24, 2) END AS cycle_hours,
  CASE WHEN m.first_review_on IS NOT NULL
    THEN round((julianday(m.first_review_on) - julianday(m.created_on)) * 24, 2)
    END AS review_hours
FROM (
  SELECT p.id, p.source, p.repository_id, r.full_name AS repository, p.number, p.title,
    p.state, p.author_id, coalesce(u.display_name, u.nickname, p.author_id) AS author,
    p.created_on, p.updated_on, p.closed_on,
    coalesce(cb.display_name, cb.nickname, p.closed_by_id) AS closed_by,
    CASE WHEN p.state = 'MERGED' THEN p.closed_on END AS merged_on,
    (SELECT min(a.date) FROM pullrequest_activity a
      WHERE a.pullrequest_id = p.id AND a.deleted_at IS NULL
        AND a.kind IN ('approval', 'changes_requested', 'comment')
        AND a.user_id IS NOT p.author_id) AS first_review_on,
    (SELECT count(*) FROM pullrequest_participants pp
      WHERE pp.pullrequest_id = p.id AND pp.deleted_at IS NULL AND pp.approved = 1
        AND pp.user_id IS NOT p.author_id) AS approvals
  FROM pullrequests p
  LEFT JOIN repositories r ON r.id = p.repository_id
  LEFT JOIN users u ON u.id = p.author_id
  LEFT JOIN users cb ON cb.id = p.closed_by_id
  WHERE p.deleted_at IS NULL
) m""",
    """CREATE VIEW [issue_metrics] AS
SELECT m.*,
  CASE WHEN m.resolved_on IS NOT NULL
    THEN round(julianday(m.resolved_on) - julianday(m.created_on), 2) END AS resolve_days
FROM (
  SELECT i.id, i.source, i.repository_id, r.full_name AS repository, i.number, i.title,
    i.state, i.kind, i.priority, i.reporter_id,
    coalesce(rep.display_name, rep.nickname, i.reporter_id) AS reporter, i.assignee_id,
    coalesce(asg.display_name, asg.nickname, i.assignee_id) AS assignee,
    i.created_on, i.updated_on,
    i.state IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed') AS is_resolved,
    CASE WHEN i.state IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed') THEN (
      SELECT max(c.created_on) FROM issue_change_items c
      WHERE c.issue_id = i.id AND c.deleted_at IS NULL AND c.field = 'state'
        AND c.new IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed')
        AND coalesce(c.old, '') NOT IN ('resolved', 'invalid', 'duplicate', 'wontfix', 'closed')
    ) END AS resolved_on
  FROM issues i
  LEFT JOIN repositories r ON r.id = i.repository_id
  LEFT JOIN users rep ON rep.id = i.reporter_id
  LEFT JOIN users asg ON asg.id = i.assignee_id
  WHERE i.deleted_at IS NULL
) m""",
)

# Build statuses were keyed by Cloud's ``uuid`` (which real payloads do not carry) and by
# ``{commit}/build/{key}`` on Data Center; both become ``{commit}/status/{key}`` (bitbucket-cloud.md
# §3.17: posting a key again overwrites that status). Where old rows collide on the new key, the
# most recently updated one takes it and the others get a tombstone (nothing is deleted).
STATUS_KEYS: tuple[str, ...] = (
    """UPDATE [commit_statuses] SET [id] = [commit_id] || '/status/' || [key]
    WHERE rowid IN (
      SELECT rowid FROM (
        SELECT rowid, row_number() OVER (
          PARTITION BY [commit_id], [key]
          ORDER BY [deleted_at] IS NOT NULL, [updated_on] DESC, rowid DESC
        ) AS rank
        FROM [commit_statuses] WHERE [commit_id] IS NOT NULL AND [key] IS NOT NULL
      ) WHERE rank = 1
    ) AND [id] IS NOT [commit_id] || '/status/' || [key]""",
    """UPDATE [commit_statuses] SET [deleted_at] = strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')
    WHERE [deleted_at] IS NULL
      AND ([commit_id] IS NULL OR [key] IS NULL
        OR [id] IS NOT [commit_id] || '/status/' || [key])""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", extra=CLOSED_ON_TRIGGERS),
    Migration(2, "report views and index", extra=REPORT_SCHEMA),
    Migration(3, "Jira issue keys linked to pull requests and commits"),
    Migration(4, "build statuses keyed by commit and key", extra=STATUS_KEYS),
)
SCHEMA_VERSION: int = MIGRATIONS[-1].version


def _q(name: str) -> str:
    return f"[{name}]"


def _column_sql(table: Table, col: Column) -> str:
    sql = f"{_q(col.name)} {col.type}"
    if table.primary_key == (col.name,):
        sql += " PRIMARY KEY" + (" AUTOINCREMENT" if col.type == "INTEGER" else " NOT NULL")
    elif table.mirrored and col.name in ("source", "json"):
        sql += " NOT NULL"
    if col.references:
        sql += f" REFERENCES {_q(col.references)}([id])"
    return sql


def _fts_sql(table: Table) -> list[str]:
    """FTS5 external-content table plus the sqlite-utils style sync triggers."""
    t, fts = table.name, f"{table.name}_fts"
    cols = ", ".join(_q(c) for c in table.fts)
    new = ", ".join(f"new.{_q(c)}" for c in table.fts)
    old = ", ".join(f"old.{_q(c)}" for c in table.fts)
    delete = f"INSERT INTO {_q(fts)} ({_q(fts)}, rowid, {cols}) VALUES('delete', old.rowid, {old});"
    insert = f"INSERT INTO {_q(fts)} (rowid, {cols}) VALUES (new.rowid, {new});"
    return [
        f"CREATE VIRTUAL TABLE {_q(fts)} USING FTS5 ({cols}, content={_q(t)})",
        f"CREATE TRIGGER {_q(t + '_ai')} AFTER INSERT ON {_q(t)} BEGIN {insert} END",
        f"CREATE TRIGGER {_q(t + '_ad')} AFTER DELETE ON {_q(t)} BEGIN {delete} END",
        f"CREATE TRIGGER {_q(t + '_au')} AFTER UPDATE ON {_q(t)} BEGIN {delete} {insert} END",
    ]


def migration_sql(migration: Migration) -> list[str]:
    """Every statement migration ``migration.version`` runs, in order."""
    v = migration.version
    stmts: list[str] = []
    for table in TABLES.values():
        if table.since == v:
            cols = [_column_sql(table, c) for c in table.all_columns if c.since <= v]
            if len(table.primary_key) > 1:
                cols.append(f"PRIMARY KEY ({', '.join(_q(c) for c in table.primary_key)})")
            stmts.append(f"CREATE TABLE {_q(table.name)} (\n  " + ",\n  ".join(cols) + "\n)")
            if table.fts:
                stmts.extend(_fts_sql(table))
        elif table.since < v:
            stmts.extend(
                f"ALTER TABLE {_q(table.name)} ADD COLUMN {_column_sql(table, c)}"
                for c in table.all_columns
                if c.since == v
            )
        for ix in table.all_indexes():
            if ix.since == v or (table.since == v and ix.since < v):
                cols = ", ".join(_q(c) for c in ix.columns)
                stmts.append(f"CREATE INDEX {_q(ix.name(table.name))} ON {_q(table.name)} ({cols})")
    stmts.extend(migration.extra)
    return stmts


def current_version(conn: sqlite3.Connection) -> int:
    """The highest migration recorded in the database (0 for a new one); read-only."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if not found:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM _migrations").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction; return how many were applied.

    Safe to run concurrently: each migration re-checks the version after taking the write lock.
    Raises StoreError when the database is newer than this code.
    """
    have = current_version(conn)
    if have > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {have}, newer than this bbmirror understands"
            f" ({SCHEMA_VERSION}); upgrade bbmirror"
        )
    if have == SCHEMA_VERSION:
        return 0
    saved, conn.isolation_level = conn.isolation_level, None
    applied = 0
    try:
        for migration in MIGRATIONS:
            if migration.version <= have:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS _migrations"
                    " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                if current_version(conn) >= migration.version:
                    conn.execute("COMMIT")
                    continue
                for stmt in migration_sql(migration):
                    conn.execute(stmt)
                conn.execute(
                    "INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (
                        migration.version,
                        migration.name,
                        datetime.now(UTC).isoformat(timespec="microseconds"),
                    ),
                )
                conn.execute("COMMIT")
                applied += 1
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    finally:
        conn.isolation_level = saved
    return applied
