"""Bitbucket Cloud API objects -> table rows: accounts, workspaces, repositories, pull requests.

Pure functions, one per object kind. Each takes the object exactly as the API returned it plus
the context the object does not carry (``source``, and parent ids such as ``repository_id``),
and returns a ``RowSet`` (table name -> rows) with every row the object implies: a PR gives its
``pullrequests`` row, its participant rows and a ``users`` row for every user it mentions.
Commits and refs are in ``rows_git``, issues in ``rows_issues``; the shared readers, key scheme
and ``user`` in ``bbmirror.rows``.

Choices where the reference is silent:

- ``update`` activity entries carry no acting user, only the PR ``author``: that is recorded as
  ``user_id``. Activity keys are ``{pr id}/activity/{kind}/{utc date}/{user id}/{comment id}``
  (``-`` when absent). Unknown activity kinds are kept: the kind is the payload's key.
"""

from __future__ import annotations

from typing import Any

from bbmirror import rows as shared
from bbmirror.rows import Row, RowError, RowSet, comment_key, pullrequest_key, user_key

# -- accounts, workspaces, projects, repositories -----------------------------------------


def _keyed(obj: Any, kind: str) -> tuple[dict, str]:
    """The object and its uuid: workspaces, projects and repositories are keyed by it."""
    obj = shared.as_object(obj, kind)
    key = shared.need_uuid(obj, kind)
    return obj, key


def _user_id(rs: RowSet, obj: Any, source: str, missing: str) -> str:
    """The id of the user ``obj`` names (its row joins ``rs``): rows keyed by a user need one."""
    user_id = shared.ref_user(rs, obj, source)
    if user_id is None:
        raise RowError(missing)
    return user_id


def _dated(obj: dict, kind: str) -> Row:
    """The columns every dated Cloud object's row ends with: its two times and its JSON."""
    return {
        "created_on": shared.time(obj, "created_on", kind),
        "updated_on": shared.time(obj, "updated_on", kind),
        "json": shared.json(obj),
    }


def workspace(obj: dict, *, source: str) -> RowSet:
    obj, key = _keyed(obj, "workspace")
    row = {
        "id": key,
        "source": source,
        "uuid": key,
        "slug": obj.get("slug"),
        "name": obj.get("name"),
        "is_private": shared.flag(obj.get("is_private")),
        **_dated(obj, "workspace"),
    }
    return {"workspaces": [row]}


def member(obj: dict, *, source: str, workspace_id: str | None = None) -> RowSet:
    """A ``workspace_membership``: who belongs to a workspace, with which permission."""
    obj = shared.as_object(obj, "workspace membership")
    rs: RowSet = {}
    user_id = _user_id(
        rs, obj.get("user"), source, "workspace membership has no 'user' with a uuid"
    )
    workspace_id = workspace_id or shared.uuid(obj.get("workspace"))
    if workspace_id is None:
        raise RowError("workspace membership has no 'workspace' uuid")
    row = {
        "id": f"{workspace_id}/{user_id}",
        "source": source,
        "workspace_id": workspace_id,
        "user_id": user_id,
        "permission": obj.get("permission"),
        "added_on": shared.time(obj, "added_on", "workspace membership"),
        "last_accessed": shared.time(obj, "last_accessed", "workspace membership"),
        "json": shared.json(obj),
    }
    return shared.add(rs, "workspace_members", row)


def project(obj: dict, *, source: str, workspace_id: str | None = None) -> RowSet:
    obj, key = _keyed(obj, "project")
    row = {
        "id": key,
        "source": source,
        "workspace_id": workspace_id or shared.uuid(obj.get("workspace")),
        "key": obj.get("key"),
        "name": obj.get("name"),
        "description": obj.get("description"),
        "is_private": shared.flag(obj.get("is_private")),
        **_dated(obj, "project"),
    }
    return {"projects": [row]}


def repository(obj: dict, *, source: str, workspace_id: str | None = None) -> RowSet:
    obj, key = _keyed(obj, "repository")
    rs: RowSet = {}
    full_name = obj.get("full_name")
    slug = obj.get("slug")
    if slug is None and isinstance(full_name, str) and "/" in full_name:
        slug = full_name.split("/", 1)[1]
    mainbranch = obj.get("mainbranch")
    row = {
        "id": key,
        "source": source,
        "workspace_id": workspace_id or shared.uuid(obj.get("workspace")),
        "project_id": shared.uuid(obj.get("project")),
        "owner_id": shared.ref_user(rs, obj.get("owner"), source),
        "parent_id": shared.uuid(obj.get("parent")),
        "slug": slug,
        "full_name": full_name,
        "name": obj.get("name"),
        "description": obj.get("description"),
        "scm": obj.get("scm"),
        "is_private": shared.flag(obj.get("is_private")),
        "has_issues": shared.flag(obj.get("has_issues")),
        "has_wiki": shared.flag(obj.get("has_wiki")),
        "fork_policy": obj.get("fork_policy"),
        "language": obj.get("language"),
        "size": shared.integer(obj.get("size"), "repository 'size'"),
        "mainbranch": mainbranch.get("name") if isinstance(mainbranch, dict) else mainbranch,
        "website": obj.get("website"),
        **_dated(obj, "repository"),
    }
    return shared.add(rs, "repositories", row)


# -- pull requests ------------------------------------------------------------------------


def pullrequest(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A PR, plus participant rows when the object carries ``participants``/``reviewers``.

    List responses omit both lists (reference §3.11); then no participant rows are returned, and
    the caller must not reconcile participants from this rowset.
    """
    obj = shared.as_object(obj, "pull request")
    number = shared.integer(shared.need(obj, "id", "pull request"), "pull request 'id'")
    key = pullrequest_key(repository_id, number)
    rs: RowSet = {}
    src, dst = obj.get("source"), obj.get("destination")
    row = {
        "id": key,
        "source": source,
        "repository_id": repository_id,
        "number": number,
        "title": obj.get("title"),
        "description": obj.get("description", shared.text(obj.get("summary"))),
        "description_html": shared.html(obj.get("summary"))
        or shared.get(obj, "rendered", "description", "html"),
        "state": obj.get("state"),
        "author_id": shared.ref_user(rs, obj.get("author"), source),
        "source_repository_id": shared.uuid(shared.get(src, "repository")),
        "source_branch": shared.get(src, "branch", "name"),
        "source_commit": shared.get(src, "commit", "hash"),
        "destination_repository_id": shared.uuid(shared.get(dst, "repository")),
        "destination_branch": shared.get(dst, "branch", "name"),
        "destination_commit": shared.get(dst, "commit", "hash"),
        "merge_commit": shared.get(obj, "merge_commit", "hash"),
        "closed_by_id": shared.ref_user(rs, obj.get("closed_by"), source),
        "reason": obj.get("reason"),
        "comment_count": shared.integer(obj.get("comment_count"), "pull request 'comment_count'"),
        "task_count": shared.integer(obj.get("task_count"), "pull request 'task_count'"),
        "close_source_branch": shared.flag(obj.get("close_source_branch")),
        "draft": shared.flag(obj.get("draft")),
        "version": None,
        "created_on": shared.time(obj, "created_on", "pull request"),
        "updated_on": shared.time(obj, "updated_on", "pull request"),
        "closed_on": shared.time(obj, "closed_on", "pull request"),
        "json": shared.json(obj),
    }
    shared.add(rs, "pullrequests", row)
    reviewers = [r for r in obj.get("reviewers") or () if isinstance(r, dict)]
    reviewer_ids = {user_key(r) for r in reviewers} - {None}
    seen: set[str] = set()
    for part in obj.get("participants") or ():
        if not isinstance(part, dict):
            continue
        user_id = shared.ref_user(rs, part.get("user"), source)
        if user_id is None or user_id in seen:
            continue
        seen.add(user_id)
        shared.add(
            rs,
            "pullrequest_participants",
            _participant_row(part, key, repository_id, user_id, source, reviewer_ids),
        )
    for reviewer in reviewers:  # a reviewer not (yet) among participants has not acted
        user_id = shared.ref_user(rs, reviewer, source)
        if user_id is None or user_id in seen:
            continue
        seen.add(user_id)
        part = {"type": "participant", "user": reviewer, "role": "REVIEWER", "approved": False}
        shared.add(
            rs,
            "pullrequest_participants",
            _participant_row(part, key, repository_id, user_id, source, reviewer_ids),
        )
    return rs


def _participant_row(
    part: dict, pr_id: str, repository_id: str, user_id: str, source: str, reviewer_ids: set
) -> Row:
    role = part.get("role")
    return {
        "id": f"{pr_id}/{user_id}",
        "source": source,
        "pullrequest_id": pr_id,
        "repository_id": repository_id,
        "user_id": user_id,
        "role": role,
        "is_reviewer": int(role == "REVIEWER" or user_id in reviewer_ids),
        "approved": shared.flag(part.get("approved")),
        "state": part.get("state"),
        "participated_on": shared.time(part, "participated_on", "participant"),
        "last_reviewed_commit": None,
        "json": shared.json(part),
    }


def _comment(
    obj: dict,
    *,
    kind: str,
    source: str,
    repository_id: str,
    pr_id: str | None,
    issue_id: str | None,
) -> RowSet:
    number = shared.integer(shared.need(obj, "id", f"{kind} comment"), f"{kind} comment 'id'")
    rs: RowSet = {}
    inline = obj.get("inline") if isinstance(obj.get("inline"), dict) else {}
    parent = shared.get(obj, "parent", "id")
    row = {
        "id": comment_key(source, number),
        "source": source,
        "kind": kind,
        "repository_id": repository_id,
        "pullrequest_id": pr_id,
        "issue_id": issue_id,
        "parent_id": comment_key(source, parent) if parent is not None else None,
        "comment_id": number,
        "user_id": shared.ref_user(rs, obj.get("user"), source),
        "body": shared.text(obj.get("content")),
        "body_html": shared.html(obj.get("content")),
        "inline_path": inline.get("path") or None,
        "inline_from": shared.integer(inline.get("from"), "comment 'inline.from'"),
        "inline_to": shared.integer(inline.get("to"), "comment 'inline.to'"),
        "deleted": shared.flag(obj.get("deleted")),
        "state": None,
        "severity": None,
        "version": None,
        **_dated(obj, f"{kind} comment"),
    }
    return shared.add(rs, "comments", row)


def pr_comment(
    obj: dict, *, source: str, repository_id: str, pullrequest_id: str | None = None
) -> RowSet:
    """A ``pullrequest_comment``; the PR comes from the context or the comment's ``pullrequest``."""
    obj = shared.as_object(obj, "pull request comment")
    if pullrequest_id is None:
        number = shared.need(
            obj.get("pullrequest") or {}, "id", "pull request comment 'pullrequest'"
        )
        pullrequest_id = pullrequest_key(repository_id, number)
    return _comment(
        obj,
        kind="pullrequest",
        source=source,
        repository_id=repository_id,
        pr_id=pullrequest_id,
        issue_id=None,
    )


_ACTIVITY_META = {"pull_request", "pullrequest", "links", "type"}


def pr_activity(
    obj: dict, *, source: str, repository_id: str, pullrequest_id: str | None = None
) -> RowSet:
    """One PR activity entry (``update``/``approval``/``comment``/``changes_requested``/...)."""
    obj = shared.as_object(obj, "pull request activity")
    kinds = [k for k, v in obj.items() if k not in _ACTIVITY_META and isinstance(v, dict)]
    if not kinds:
        raise RowError("pull request activity has no payload (update, approval, comment, ...)")
    kind = kinds[0]
    payload = obj[kind]
    if pullrequest_id is None:
        pr = obj.get("pull_request") or payload.get("pullrequest") or {}
        pullrequest_id = pullrequest_key(
            repository_id, shared.need(pr, "id", "pull request activity 'pull_request'")
        )
    rs: RowSet = {}
    if kind == "comment":
        date = shared.time(payload, "created_on", "activity comment")
        user_ref = payload.get("user")
        number = payload.get("id")
    else:
        date = shared.time(payload, "date", f"activity {kind}")
        user_ref = payload.get("user") or payload.get("author")
        number = None
    if date is None:
        raise RowError(f"pull request activity {kind} has no 'date'")
    user_id = shared.ref_user(rs, user_ref, source)
    comment_id = comment_key(source, number) if number is not None else None
    tail = f"{user_id or '-'}/{number if number is not None else '-'}"
    row = {
        "id": f"{pullrequest_id}/activity/{kind}/{date}/{tail}",
        "source": source,
        "pullrequest_id": pullrequest_id,
        "repository_id": repository_id,
        "kind": kind,
        "date": date,
        "user_id": user_id,
        "comment_id": comment_id,
        "state": payload.get("state") if kind == "update" else None,
        "source_commit": shared.get(payload, "source", "commit", "hash"),
        "destination_commit": shared.get(payload, "destination", "commit", "hash"),
        "activity_id": None,
        "json": shared.json(obj),
    }
    return shared.add(rs, "pullrequest_activity", row)


def default_reviewer(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A default reviewer: a plain user, or ``{"user": ..., "type": "default_reviewer"}``."""
    obj = shared.as_object(obj, "default reviewer")
    user = obj.get("user") if obj.get("type") == "default_reviewer" else obj
    rs: RowSet = {}
    user_id = _user_id(rs, user, source, "default reviewer has no user uuid")
    row = {
        "id": f"{repository_id}/default-reviewer/{user_id}",
        "source": source,
        "repository_id": repository_id,
        "user_id": user_id,
        "json": shared.json(obj),
    }
    return shared.add(rs, "default_reviewers", row)
