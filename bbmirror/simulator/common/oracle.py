"""Reading a mirror's alive rows and comparing them with what a flavour's oracle expects."""

from __future__ import annotations

import sqlite3

Rows = dict[str, dict[str, tuple]]

# How to read each compared table's alive rows (a flavour compares the tables it has).
QUERIES = {
    "workspaces": "select id, slug, name from workspaces",
    "workspace_members": "select id from workspace_members",
    "projects": "select id, key, name from projects",
    "repositories": "select id, slug, full_name, has_issues from repositories",
    "branches": "select id, target_hash from branches",
    "tags": "select id, target_hash from tags",
    "commits": "select id, message, author_raw, parent_count from commits",
    "pullrequests": "select id, title, state, author_id, source_branch, destination_branch,"
    " comment_count, updated_on, draft from pullrequests",
    "pullrequest_participants": "select id, approved, state from pullrequest_participants",
    "pullrequest_commits": "select id from pullrequest_commits",
    "comments": "select id, pullrequest_id, issue_id, coalesce(body, ''), deleted, parent_id"
    " from comments",
    "activity_count": "select pullrequest_id, count(*) from pullrequest_activity",
    "milestones": "select id, name from milestones",
    "versions": "select id, name from versions",
    "components": "select id, name from components",
    "default_reviewers": "select id, user_id from default_reviewers",
    "pullrequest_files": "select id, source_commit, status, old_path, lines_added, lines_removed"
    " from pullrequest_files",
    "repository_labels": "select id, name from repository_labels",
    "pipelines": "select id, build_number, state, result, commit_hash, pullrequest_id, trigger,"
    " creator_id, build_seconds_used, created_on, completed_on from pipelines",
    "pipeline_steps": "select id, pipeline_id, name, state, result, started_on, completed_on"
    " from pipeline_steps",
    "environments": "select id, name, type, rank from environments",
    "deployments": "select id, environment_id, state, result, commit_hash, started_on,"
    " completed_on from deployments",
    "issues": "select id, title, state, kind, priority, assignee_id, updated_on from issues",
    "issue_changes": "select id, user_id from issue_changes",
    "issue_attachments": "select id from issue_attachments",
    "pullrequest_tasks": "select id, pullrequest_id, task_id, comment_id, state, creator_id,"
    " resolved_by_id, resolved_on from pullrequest_tasks",
}


def actual(db: str, source: str, queries: dict[str, str]) -> dict:
    """The alive rows of one source in the mirror, in the shape the oracles' ``expected`` uses."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, dict[str, tuple]] = {}
        for name, sql in queries.items():
            sql += (
                " and" if " where " in sql else " where "
            ) + " deleted_at is null and source = ?"
            if name == "activity_count":
                sql += " group by pullrequest_id"
            rows = conn.execute(sql, (source,)).fetchall()
            ids = [r[0] for r in rows]
            assert len(ids) == len(set(ids)), f"duplicate ids in {name}"
            out[name] = {r[0]: tuple(r[1:]) for r in rows}
        return out
    finally:
        conn.close()


def compare(want_all: Rows, have_all: Rows, tables: dict[str, str], limit: int = 5) -> list[str]:
    """Human-readable differences, table by table: missing, unexpected, then wrong rows."""
    problems = []
    for table in tables:
        want, have = want_all.get(table, {}), have_all.get(table, {})
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        for k in missing[:limit]:
            problems.append(f"{table}: missing {k} {want[k]}")
        for k in extra[:limit]:
            problems.append(f"{table}: unexpected {k} {have[k]}")
        for k in wrong[:limit]:
            problems.append(f"{table}: {k} is {have[k]}, world says {want[k]}")
    return problems
