"""What bbmirror's database holds, declared once: tables, columns, keys, indexes, full-text search.

Nothing is inferred from rows (DESIGN.md principle 2); ``bbmirror.store.schema`` builds these
declarations with sqlite-utils. Every table, column and index carries ``since``, the schema
version that introduced it, so ``TABLES`` always shows the current schema.

Choices where the brief and the reference are silent (version 5 on: ``tables_v5.py``):
- Mirrored tables share a frame: ``id TEXT PRIMARY KEY`` (stable, from immutable API ids),
  ``source`` (the configured Bitbucket instance), the flattened columns, ``json`` (the object as
  the API returned it), ``deleted_at`` (tombstone) and ``synced_at`` (when the row's current
  content was written; an identical re-sync leaves it alone).
- Foreign keys are declared (Datasette follows them) but never enforced: ``PRAGMA foreign_keys``
  stays off, because a resumed sync may write children before their parents, and tombstoned
  parents keep their children.
- Every foreign-key column is indexed unless a declared index already starts with it (so not
  sqlite-utils' ``index_foreign_keys``, which would add six single-column indexes that composite
  ones already serve). ``source`` is a plain label, not a foreign key, so no table pays for a
  low-value index on it. Migrations 8 and 10 drop indexes no query uses
  (``schema.UNUSED_INDEXES``, ``UNUSED_INDEXES_10``).
- ``pullrequests.closed_on`` is derived from ``update`` activity entries (Cloud PR objects
  carry no close time): the earliest ``update`` whose state equals the PR's closed state. A
  trigger fills it when activity arrives; ``AFTER_WRITE`` fills (or lowers: the earliest close
  wins) it when the PR arrives after its activity. An upsert that carries no ``closed_on``
  keeps the derived one (``ON_CONFLICT``).
- Full-text search: sqlite-utils' ``enable_fts(create_triggers=True)``, FTS5 external-content
  tables named ``<table>_fts``. They index by rowid: after a ``VACUUM`` (which may renumber
  rowids of tables without an INTEGER PRIMARY KEY) rebuild them (``Store.vacuum`` does both).
"""

from __future__ import annotations

from bbmirror.store.declare import Column, Index, StoreError, Table, _cols, _ix
from bbmirror.store.tables_v5 import LATER_TABLES

__all__ = [
    "AFTER_WRITE",
    "MIRRORED",
    "ON_CONFLICT",
    "TABLES",
    "Column",
    "Index",
    "StoreError",
    "Table",
]

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
TABLES.update((t.name, t) for t in LATER_TABLES)
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

CLOSED = "('MERGED', 'DECLINED', 'SUPERSEDED')"

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
      WHERE [id] IN (SELECT value FROM json_each(?)) AND [state] IN {CLOSED}
        AND {_FIRST_CLOSE} IS NOT NULL
        AND ([closed_on] IS NULL OR [closed_on] > {_FIRST_CLOSE})""",
}
