"""Bitbucket Server / Data Center objects -> rows of the same tables Cloud fills.

Server keys everything by numeric ids that are unique only within one instance, so keys carry
the source: users ``{source}/user/{id}``, projects ``{source}/project/{id}``, repositories
``{source}/repo/{id}``; PRs, commits, branches and comments then follow the Cloud scheme
(``{repository_id}/pr/{n}``, ``{source}/comment/{id}``...). Timestamps are epoch
milliseconds, or ISO-8601 text in newer releases.

Where the two APIs differ, the columns hold the Cloud meaning so reports work on both
(reference bitbucket-server.md §7): review ``status`` APPROVED/NEEDS_WORK/UNAPPROVED becomes
``approved``/``changes_requested``/NULL; activity actions become Cloud's kinds (OPENED, UPDATED,
RESCOPED, MERGED, DECLINED, REOPENED → ``update`` with the state they leave the PR in;
COMMENTED → ``comment``; APPROVED → ``approval``; REVIEWED → ``changes_requested``; UNAPPROVED
→ ``unapproval``). The raw action stays in ``json``.
"""

from __future__ import annotations

import re
from typing import Any

from bbmirror import rows as shared
from bbmirror.flavours.server.rows_tasks import blocker_task
from bbmirror.rows import RowError, RowSet, comment_key, pullrequest_key, to_utc

JIRA_KEY = re.compile(r"\b[A-Z][A-Z0-9_]+-\d+\b")
REVIEW_STATE = {"APPROVED": "approved", "NEEDS_WORK": "changes_requested"}
ACTIVITY_KIND = {
    "OPENED": ("update", "OPEN"),
    "UPDATED": ("update", None),
    "RESCOPED": ("update", None),
    "MERGED": ("update", "MERGED"),
    "DECLINED": ("update", "DECLINED"),
    "REOPENED": ("update", "OPEN"),
    "COMMENTED": ("comment", None),
    "APPROVED": ("approval", None),
    "REVIEWED": ("changes_requested", None),
    "UNAPPROVED": ("unapproval", None),
}


def user_key(source: str, obj: Any) -> str | None:
    uid = shared.get(obj, "id")
    return f"{source}/user/{uid}" if isinstance(uid, int) else None


def repository_key(source: str, repo_id: int | str) -> str:
    return f"{source}/repo/{repo_id}"


def _ms(obj: Any, key: str, what: str) -> str | None:
    """A Data Center time: epoch milliseconds, or the ISO-8601 text newer releases send
    (``2018-07-05T05:01:10+0000``)."""
    value = shared.get(obj, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RowError(f"{what} '{key}' is neither epoch milliseconds nor ISO-8601: {value!r}")
    try:
        return to_utc(value)
    except RowError as exc:
        raise RowError(f"{what} '{key}': {exc}") from None


def _user(rs: RowSet, obj: Any, source: str) -> str | None:
    """Add a row for an embedded Server user; return its key (None without a numeric id)."""
    key = user_key(source, obj)
    if key is None:
        return None
    if any(row["id"] == key for row in rs.get("users", ())):
        return key
    shared.add(
        rs,
        "users",
        {
            "id": key,
            "source": source,
            "uuid": None,
            "account_id": None,
            "username": obj.get("name"),
            "nickname": obj.get("slug"),
            "display_name": obj.get("displayName"),
            "email": obj.get("emailAddress"),
            "kind": obj.get("type"),
            "account_status": "active" if obj.get("active", True) else "inactive",
            "created_on": None,
            "json": shared.dumps(obj),
        },
    )
    return key


def user(obj: dict, *, source: str) -> RowSet:
    rs: RowSet = {}
    if _user(rs, shared.as_object(obj, "user"), source) is None:
        raise RowError("user has no numeric 'id'")
    return rs


def project(obj: dict, *, source: str) -> RowSet:
    obj = shared.as_object(obj, "project")
    pid = shared.need(obj, "id", "project")
    rs: RowSet = {}
    owner = _user(rs, obj.get("owner"), source)
    shared.add(
        rs,
        "projects",
        {
            "id": f"{source}/project/{pid}",
            "source": source,
            "workspace_id": None,
            "key": obj.get("key"),
            "name": obj.get("name"),
            "description": obj.get("description") if owner is None else None,
            "is_private": None if obj.get("public") is None else int(not obj["public"]),
            "created_on": None,
            "updated_on": None,
            "json": shared.dumps(obj),
        },
    )
    return rs


def repository(obj: dict, *, source: str) -> RowSet:
    obj = shared.as_object(obj, "repository")
    rid = shared.need(obj, "id", "repository")
    rs = project(obj["project"], source=source) if isinstance(obj.get("project"), dict) else {}
    project_id = rs["projects"][0]["id"] if rs.get("projects") else None
    key = shared.get(obj, "project", "key")
    shared.add(
        rs,
        "repositories",
        {
            "id": repository_key(source, rid),
            "source": source,
            "workspace_id": None,
            "project_id": project_id,
            "owner_id": None,
            "parent_id": None,
            "slug": obj.get("slug"),
            "full_name": f"{key}/{obj.get('slug')}" if key else obj.get("slug"),
            "name": obj.get("name"),
            "description": obj.get("description"),
            "scm": obj.get("scmId"),
            "is_private": None if obj.get("public") is None else int(not obj["public"]),
            "has_issues": 0,  # Server has no issue tracker; Jira keys live in jira_links
            "has_wiki": None,
            "fork_policy": None,
            "language": None,
            "size": None,
            "mainbranch": None,
            "website": None,
            "created_on": None,
            "updated_on": None,
            "json": shared.dumps(obj),
        },
    )
    return rs


def pullrequest(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A PR with its reviewers and participants (Server lists always carry both)."""
    obj = shared.as_object(obj, "pull request")
    number = shared.integer(shared.need(obj, "id", "pull request"), "pull request 'id'")
    key = pullrequest_key(repository_id, number)
    rs: RowSet = {}
    src, dst = obj.get("fromRef") or {}, obj.get("toRef") or {}
    props = obj.get("properties") if isinstance(obj.get("properties"), dict) else {}
    state = obj.get("state")
    shared.add(
        rs,
        "pullrequests",
        {
            "id": key,
            "source": source,
            "repository_id": repository_id,
            "number": number,
            "title": obj.get("title"),
            "description": obj.get("description"),
            "description_html": None,
            "state": state,
            "author_id": _user(rs, shared.get(obj, "author", "user"), source),
            "source_repository_id": _repo_of(src, source),
            "source_branch": src.get("displayId"),
            "source_commit": src.get("latestCommit"),
            "destination_repository_id": _repo_of(dst, source),
            "destination_branch": dst.get("displayId"),
            "destination_commit": dst.get("latestCommit"),
            "merge_commit": shared.get(props, "mergeCommit", "id"),
            "closed_by_id": None,
            "reason": None,
            "comment_count": shared.integer(props.get("commentCount"), "commentCount") or 0,
            "task_count": shared.integer(props.get("openTaskCount"), "openTaskCount") or 0,
            "close_source_branch": None,
            "draft": None if obj.get("draft") is None else int(bool(obj["draft"])),
            "version": shared.integer(obj.get("version"), "pull request 'version'"),
            "created_on": _ms(obj, "createdDate", "pull request"),
            "updated_on": _ms(obj, "updatedDate", "pull request"),
            "closed_on": _ms(obj, "closedDate", "pull request") if state != "OPEN" else None,
            "json": shared.dumps(obj),
        },
    )
    for role, people in (
        ("REVIEWER", obj.get("reviewers")),
        ("PARTICIPANT", obj.get("participants")),
    ):
        for part in people or ():
            user_id = _user(rs, shared.get(part, "user"), source)
            if user_id is None:
                continue
            shared.add(
                rs,
                "pullrequest_participants",
                {
                    "id": f"{key}/{user_id}",
                    "source": source,
                    "pullrequest_id": key,
                    "repository_id": repository_id,
                    "user_id": user_id,
                    "role": part.get("role", role),
                    "is_reviewer": int(role == "REVIEWER"),
                    "approved": int(bool(part.get("approved"))),
                    "state": REVIEW_STATE.get(part.get("status")),
                    "participated_on": None,
                    "last_reviewed_commit": part.get("lastReviewedCommit"),
                    "json": shared.dumps(part),
                },
            )
    text = " ".join(filter(None, (obj.get("title"), obj.get("description"), src.get("displayId"))))
    for issue_key in jira_keys(text):
        shared.add(
            rs, "jira_links", _jira_row(source, repository_id, key, None, issue_key, None, "text")
        )
    return rs


def _jira_row(
    source: str,
    repository_id: str,
    pr_id: str | None,
    commit_id: str | None,
    issue_key: str,
    url: str | None,
    found_in: str,
) -> dict:
    owner = pr_id or commit_id
    return {
        "id": f"{owner}/jira/{found_in}/{issue_key}",
        "source": source,
        "repository_id": repository_id,
        "pullrequest_id": pr_id,
        "commit_id": commit_id,
        "issue_key": issue_key,
        "url": url,
        "found_in": found_in,
        "json": shared.dumps({"key": issue_key, "url": url}),
    }


def pr_jira_issue(obj: dict, *, source: str, repository_id: str, pullrequest_id: str) -> RowSet:
    """A Jira issue the Jira integration links to a PR (``{key, url}``)."""
    obj = shared.as_object(obj, "Jira issue")
    issue_key = shared.need(obj, "key", "Jira issue")
    row = _jira_row(source, repository_id, pullrequest_id, None, issue_key, obj.get("url"), "jira")
    return {"jira_links": [row]}


def _repo_of(ref: dict, source: str) -> str | None:
    rid = shared.get(ref, "repository", "id")
    return repository_key(source, rid) if rid is not None else None


def activity(obj: dict, *, source: str, repository_id: str, pullrequest_id: str) -> RowSet:
    """One activity, and for COMMENTED the whole embedded comment thread."""
    obj = shared.as_object(obj, "pull request activity")
    aid = shared.integer(shared.need(obj, "id", "activity"), "activity 'id'")
    action = shared.need(obj, "action", "activity")
    kind, state = ACTIVITY_KIND.get(action, (str(action).lower(), None))
    rs: RowSet = {}
    comment = obj.get("comment") if isinstance(obj.get("comment"), dict) else None
    shared.add(
        rs,
        "pullrequest_activity",
        {
            "id": f"{pullrequest_id}/activity/{aid}",
            "source": source,
            "pullrequest_id": pullrequest_id,
            "repository_id": repository_id,
            "kind": kind,
            "date": _ms(obj, "createdDate", "activity"),
            "user_id": _user(rs, obj.get("user"), source),
            "comment_id": comment_key(source, comment["id"]) if comment else None,
            "state": state,
            "source_commit": obj.get("fromHash"),
            "destination_commit": obj.get("toHash"),
            "activity_id": aid,
            "json": shared.dumps(obj),
        },
    )
    if comment and obj.get("commentAction", "ADDED") != "DELETED":
        _thread(rs, comment, None, source, repository_id, pullrequest_id)
    return rs


def _thread(
    rs: RowSet, obj: dict, parent: int | None, source: str, repository_id: str, pr_id: str
) -> None:
    """A comment and, recursively, its replies (Server nests them in ``comments``)."""
    cid = shared.integer(shared.need(obj, "id", "comment"), "comment 'id'")
    anchor = obj.get("anchor") if isinstance(obj.get("anchor"), dict) else {}
    line = shared.integer(anchor.get("line"), "comment 'anchor.line'")
    old_side = anchor.get("fileType") == "FROM"
    row = {
        "id": comment_key(source, cid),
        "source": source,
        "kind": "pullrequest",
        "repository_id": repository_id,
        "pullrequest_id": pr_id,
        "issue_id": None,
        "parent_id": comment_key(source, parent) if parent is not None else None,
        "comment_id": cid,
        "user_id": _user(rs, obj.get("author"), source),
        "body": obj.get("text"),
        "body_html": None,
        "inline_path": anchor.get("path") or None,
        "inline_from": line if old_side else None,
        "inline_to": None if old_side else line,
        "deleted": 0,
        "state": obj.get("state"),
        "severity": obj.get("severity"),
        "version": shared.integer(obj.get("version"), "comment 'version'"),
        "created_on": _ms(obj, "createdDate", "comment"),
        "updated_on": _ms(obj, "updatedDate", "comment"),
        "json": shared.dumps({k: v for k, v in obj.items() if k != "comments"}),
    }
    shared.add(rs, "comments", row)
    if obj.get("severity") == "BLOCKER":  # a task (rows_tasks.py): no request of its own
        resolver = _user(rs, obj.get("resolver"), source)
        blocker_task(rs, obj, row, resolver, _ms(obj, "resolvedDate", "task"))
    for reply in obj.get("comments") or ():
        if isinstance(reply, dict):
            _thread(rs, reply, cid, source, repository_id, pr_id)


def jira_keys(text: str | None) -> list[str]:
    """Jira issue keys mentioned in free text (titles, branch names, commit messages)."""
    return sorted(set(JIRA_KEY.findall(text or "")))


def repository_label(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A label on a repository (``{"name": ...}``); its name is its identity upstream."""
    obj = shared.as_object(obj, "label")
    name = shared.need(obj, "name", "label")
    row = {
        "id": shared.named_key(repository_id, "label", name),
        "source": source,
        "repository_id": repository_id,
        "name": name,
        "json": shared.dumps(obj),
    }
    return {"repository_labels": [row]}
