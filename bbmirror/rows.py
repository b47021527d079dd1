"""Bitbucket Cloud API objects -> table rows: pure functions, one per object kind.

Each function takes the object exactly as the API returned it plus the context the object does
not carry (``source``, and parent ids such as ``repository_id``), and returns a ``RowSet``
(table name -> rows) with every row the object implies: a PR gives its ``pullrequests`` row,
its participant rows and a ``users`` row for every user it mentions. Rows carry every column
of their table except ``deleted_at``/``synced_at`` (the store sets those).

Keys (stable, from immutable ids only; see schema.py): users/workspaces/projects/repositories
use the braced uuid; PRs ``{repository_id}/pr/{n}``; issues ``{repository_id}/issue/{n}``;
comments ``{source}/comment/{id}``; and so on, via the ``*_key`` helpers below.

Choices where the reference is silent:

- A user reference without a usable uuid (sanitised ``"uuid": "{}"``) is keyed
  ``account_id:{account_id}``; with neither, the reference is dropped (the FK column is NULL).
- ``update`` activity entries carry no acting user, only the PR ``author``: that is recorded as
  ``user_id``. Activity keys are ``{pr id}/activity/{kind}/{utc date}/{user id}/{comment id}``
  (``-`` when absent). Unknown activity kinds are kept: the kind is the payload's key.
- Issue change items map a cleared value (``""``) to NULL; the original strings stay in
  ``issue_changes.changes`` and ``json``.
- Branches and tags reference their target commit by id; they do not write ``commits`` rows
  (the commit stream owns those, and two renderings of one commit would rewrite each other).
  PR commit links do write the commit, since a fork's commits are reachable no other way.
- Unparseable timestamps raise ``RowError``, like missing required keys: the record is
  quarantined, never stored with a wrong time.

Server/DC objects get their own ``server_*`` functions later, filling the same tables.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from bbmirror.compact import compact

RowSet = dict[str, list[dict]]
Row = dict[str, Any]

_FRACTION = re.compile(r"(\.\d{6})\d+")
_AUTHOR = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<email>[^<>]*)>\s*$")


class RowError(ValueError):
    """An API object that cannot become rows (a required field is missing or malformed)."""


def to_utc(value: str | int | float | datetime | None) -> str | None:
    """Normalise any Bitbucket timestamp to fixed-width ISO-8601 UTC with microseconds.

    Accepts Cloud ISO strings (any offset, ``Z``, with or without a fraction), Server epoch
    milliseconds (int), the 1.0 API's ``"YYYY-MM-DD HH:MM:SS"`` (UTC assumed, as for any naive
    value) and datetimes. Text order of the output equals time order.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):
        raise RowError(f"not a timestamp: {value!r}")
    elif isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise RowError(f"not a timestamp: {value!r}") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = _FRACTION.sub(r"\1", text)  # nanoseconds -> microseconds
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise RowError(f"not a timestamp: {value!r}") from None
    else:
        raise RowError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def combine(*rowsets: RowSet) -> RowSet:
    """Concatenate rowsets (e.g. a page of objects) into one, table by table."""
    out: RowSet = {}
    for rs in rowsets:
        for table, rows in rs.items():
            out.setdefault(table, []).extend(rows)
    return out


# -- keys ------------------------------------------------------------------------------------


def pullrequest_key(repository_id: str, number: int | str) -> str:
    return f"{repository_id}/pr/{number}"


def issue_key(repository_id: str, number: int | str) -> str:
    return f"{repository_id}/issue/{number}"


def comment_key(source: str, comment_id: int | str) -> str:
    return f"{source}/comment/{comment_id}"


def commit_key(repository_id: str, hash_: str) -> str:
    return f"{repository_id}/{hash_}"


def status_key(repository_id: str, hash_: str, key: str) -> str:
    """A build status is its commit plus its ``key`` (re-posting a key overwrites it, §3.17)."""
    return f"{commit_key(repository_id, hash_)}/status/{key}"


def named_key(repository_id: str, kind: str, api_id: int | str) -> str:
    """Key of a milestone, version or component (``kind`` is the singular noun)."""
    return f"{repository_id}/{kind}/{api_id}"


def user_key(obj: Any) -> str | None:
    """The stable key of an embedded user, or None if it carries no usable identity."""
    if not isinstance(obj, dict):
        return None
    uuid = obj.get("uuid")
    if isinstance(uuid, str) and len(uuid) > 2:
        return uuid
    account_id = obj.get("account_id")
    if isinstance(account_id, str) and account_id:
        return f"account_id:{account_id}"
    return None


# -- small tolerant readers ---------------------------------------------------------------


def _dumps(obj: Any) -> str:
    """Compact UTF-8 JSON, as the API sent it (orjson: the write path's hottest call)."""
    return orjson.dumps(obj).decode()


def _json(obj: Any) -> str:
    """The ``json`` column: the object minus what ``compact.rebuild`` derives back."""
    return _dumps(compact(obj))


def _get(obj: Any, *path: str) -> Any:
    """Nested lookup that yields None for any missing step or non-object value."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _need(obj: Any, key: str, what: str) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None or value == "":
        raise RowError(f"{what} has no '{key}'")
    return value


def _obj(obj: Any, what: str) -> dict:
    if not isinstance(obj, dict):
        raise RowError(f"{what} is not a JSON object")
    return obj


def _uuid(obj: Any) -> str | None:
    value = _get(obj, "uuid")
    return value if isinstance(value, str) and len(value) > 2 else None


def _text(value: Any) -> str | None:
    """Raw text of a rendered-content object (``{raw, markup, html}``) or a plain string."""
    if isinstance(value, dict):
        return value.get("raw")
    return value if isinstance(value, str) else None


def _html(value: Any) -> str | None:
    return value.get("html") if isinstance(value, dict) else None


def _bool(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _int(value: Any, what: str = "value") -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RowError(f"{what} is not an integer: {value!r}") from None


def _time(obj: Any, key: str, what: str) -> str | None:
    try:
        return to_utc(_get(obj, key))
    except RowError as exc:
        raise RowError(f"{what} '{key}': {exc}") from None


def _add(rs: RowSet, table: str, row: Row) -> None:
    rs.setdefault(table, []).append(row)


def _ref_user(rs: RowSet, obj: Any, source: str) -> str | None:
    """Add a row for an embedded user reference; return its key (None if unusable)."""
    key = user_key(obj)
    if key is None:
        return None
    row = _user_row(obj, key, source)
    for seen in rs.setdefault("users", []):
        if seen["id"] == key:  # same user twice in one object: keep the union
            for col, value in row.items():
                if seen.get(col) is None:
                    seen[col] = value
            return key
    rs["users"].append(row)
    return key


def _user_row(obj: dict, key: str, source: str) -> Row:
    return {
        "id": key,
        "source": source,
        "uuid": _uuid(obj),
        "account_id": obj.get("account_id") or None,
        "username": obj.get("username") or None,
        "nickname": obj.get("nickname") or None,
        "display_name": obj.get("display_name") or None,
        "email": obj.get("email") or obj.get("emailAddress") or None,
        "kind": obj.get("type") or None,
        "account_status": obj.get("account_status") or None,
        "created_on": _time(obj, "created_on", "user"),
        "json": _dumps(obj),  # not compacted: json_patch merges it, a links list would replace
    }


# -- accounts, workspaces, projects, repositories -----------------------------------------


def user(obj: dict, *, source: str) -> RowSet:
    """A user/team/account (full or condensed). Embedded references go through this too."""
    obj = _obj(obj, "user")
    if user_key(obj) is None:
        raise RowError("user has no 'uuid' (nor 'account_id')")
    rs: RowSet = {}
    _ref_user(rs, obj, source)
    return rs


def workspace(obj: dict, *, source: str) -> RowSet:
    obj = _obj(obj, "workspace")
    key = _uuid(obj)
    if key is None:
        raise RowError("workspace has no 'uuid'")
    row = {
        "id": key,
        "source": source,
        "uuid": key,
        "slug": obj.get("slug"),
        "name": obj.get("name"),
        "is_private": _bool(obj.get("is_private")),
        "created_on": _time(obj, "created_on", "workspace"),
        "updated_on": _time(obj, "updated_on", "workspace"),
        "json": _json(obj),
    }
    return {"workspaces": [row]}


def member(obj: dict, *, source: str, workspace_id: str | None = None) -> RowSet:
    """A ``workspace_membership``: who belongs to a workspace, with which permission."""
    obj = _obj(obj, "workspace membership")
    rs: RowSet = {}
    user_id = _ref_user(rs, obj.get("user"), source)
    if user_id is None:
        raise RowError("workspace membership has no 'user' with a uuid")
    workspace_id = workspace_id or _uuid(obj.get("workspace"))
    if workspace_id is None:
        raise RowError("workspace membership has no 'workspace' uuid")
    row = {
        "id": f"{workspace_id}/{user_id}",
        "source": source,
        "workspace_id": workspace_id,
        "user_id": user_id,
        "permission": obj.get("permission"),
        "added_on": _time(obj, "added_on", "workspace membership"),
        "last_accessed": _time(obj, "last_accessed", "workspace membership"),
        "json": _json(obj),
    }
    _add(rs, "workspace_members", row)
    return rs


def project(obj: dict, *, source: str, workspace_id: str | None = None) -> RowSet:
    obj = _obj(obj, "project")
    key = _uuid(obj)
    if key is None:
        raise RowError("project has no 'uuid'")
    row = {
        "id": key,
        "source": source,
        "workspace_id": workspace_id or _uuid(obj.get("workspace")),
        "key": obj.get("key"),
        "name": obj.get("name"),
        "description": obj.get("description"),
        "is_private": _bool(obj.get("is_private")),
        "created_on": _time(obj, "created_on", "project"),
        "updated_on": _time(obj, "updated_on", "project"),
        "json": _json(obj),
    }
    return {"projects": [row]}


def repository(obj: dict, *, source: str, workspace_id: str | None = None) -> RowSet:
    obj = _obj(obj, "repository")
    key = _uuid(obj)
    if key is None:
        raise RowError("repository has no 'uuid'")
    rs: RowSet = {}
    full_name = obj.get("full_name")
    slug = obj.get("slug")
    if slug is None and isinstance(full_name, str) and "/" in full_name:
        slug = full_name.split("/", 1)[1]
    mainbranch = obj.get("mainbranch")
    row = {
        "id": key,
        "source": source,
        "workspace_id": workspace_id or _uuid(obj.get("workspace")),
        "project_id": _uuid(obj.get("project")),
        "owner_id": _ref_user(rs, obj.get("owner"), source),
        "parent_id": _uuid(obj.get("parent")),
        "slug": slug,
        "full_name": full_name,
        "name": obj.get("name"),
        "description": obj.get("description"),
        "scm": obj.get("scm"),
        "is_private": _bool(obj.get("is_private")),
        "has_issues": _bool(obj.get("has_issues")),
        "has_wiki": _bool(obj.get("has_wiki")),
        "fork_policy": obj.get("fork_policy"),
        "language": obj.get("language"),
        "size": _int(obj.get("size"), "repository 'size'"),
        "mainbranch": mainbranch.get("name") if isinstance(mainbranch, dict) else mainbranch,
        "website": obj.get("website"),
        "created_on": _time(obj, "created_on", "repository"),
        "updated_on": _time(obj, "updated_on", "repository"),
        "json": _json(obj),
    }
    _add(rs, "repositories", row)
    return rs


# -- pull requests ------------------------------------------------------------------------


def pullrequest(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A PR, plus participant rows when the object carries ``participants``/``reviewers``.

    List responses omit both lists (reference §3.11); then no participant rows are returned, and
    the caller must not reconcile participants from this rowset.
    """
    obj = _obj(obj, "pull request")
    number = _int(_need(obj, "id", "pull request"), "pull request 'id'")
    key = pullrequest_key(repository_id, number)
    rs: RowSet = {}
    src, dst = obj.get("source"), obj.get("destination")
    row = {
        "id": key,
        "source": source,
        "repository_id": repository_id,
        "number": number,
        "title": obj.get("title"),
        "description": obj.get("description", _text(obj.get("summary"))),
        "description_html": _html(obj.get("summary"))
        or _get(obj, "rendered", "description", "html"),
        "state": obj.get("state"),
        "author_id": _ref_user(rs, obj.get("author"), source),
        "source_repository_id": _uuid(_get(src, "repository")),
        "source_branch": _get(src, "branch", "name"),
        "source_commit": _get(src, "commit", "hash"),
        "destination_repository_id": _uuid(_get(dst, "repository")),
        "destination_branch": _get(dst, "branch", "name"),
        "destination_commit": _get(dst, "commit", "hash"),
        "merge_commit": _get(obj, "merge_commit", "hash"),
        "closed_by_id": _ref_user(rs, obj.get("closed_by"), source),
        "reason": obj.get("reason"),
        "comment_count": _int(obj.get("comment_count"), "pull request 'comment_count'"),
        "task_count": _int(obj.get("task_count"), "pull request 'task_count'"),
        "close_source_branch": _bool(obj.get("close_source_branch")),
        "draft": _bool(obj.get("draft")),
        "version": None,
        "created_on": _time(obj, "created_on", "pull request"),
        "updated_on": _time(obj, "updated_on", "pull request"),
        "closed_on": _time(obj, "closed_on", "pull request"),
        "json": _json(obj),
    }
    _add(rs, "pullrequests", row)
    reviewers = [r for r in obj.get("reviewers") or () if isinstance(r, dict)]
    reviewer_ids = {user_key(r) for r in reviewers} - {None}
    seen: set[str] = set()
    for part in obj.get("participants") or ():
        if not isinstance(part, dict):
            continue
        user_id = _ref_user(rs, part.get("user"), source)
        if user_id is None or user_id in seen:
            continue
        seen.add(user_id)
        _add(
            rs,
            "pullrequest_participants",
            _participant_row(part, key, repository_id, user_id, source, reviewer_ids),
        )
    for reviewer in reviewers:  # a reviewer not (yet) among participants has not acted
        user_id = _ref_user(rs, reviewer, source)
        if user_id is None or user_id in seen:
            continue
        seen.add(user_id)
        part = {"type": "participant", "user": reviewer, "role": "REVIEWER", "approved": False}
        _add(
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
        "approved": _bool(part.get("approved")),
        "state": part.get("state"),
        "participated_on": _time(part, "participated_on", "participant"),
        "last_reviewed_commit": None,
        "json": _json(part),
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
    number = _int(_need(obj, "id", f"{kind} comment"), f"{kind} comment 'id'")
    rs: RowSet = {}
    inline = obj.get("inline") if isinstance(obj.get("inline"), dict) else {}
    parent = _get(obj, "parent", "id")
    row = {
        "id": comment_key(source, number),
        "source": source,
        "kind": kind,
        "repository_id": repository_id,
        "pullrequest_id": pr_id,
        "issue_id": issue_id,
        "parent_id": comment_key(source, parent) if parent is not None else None,
        "comment_id": number,
        "user_id": _ref_user(rs, obj.get("user"), source),
        "body": _text(obj.get("content")),
        "body_html": _html(obj.get("content")),
        "inline_path": inline.get("path") or None,
        "inline_from": _int(inline.get("from"), "comment 'inline.from'"),
        "inline_to": _int(inline.get("to"), "comment 'inline.to'"),
        "deleted": _bool(obj.get("deleted")),
        "state": None,
        "severity": None,
        "version": None,
        "created_on": _time(obj, "created_on", f"{kind} comment"),
        "updated_on": _time(obj, "updated_on", f"{kind} comment"),
        "json": _json(obj),
    }
    _add(rs, "comments", row)
    return rs


def pr_comment(
    obj: dict, *, source: str, repository_id: str, pullrequest_id: str | None = None
) -> RowSet:
    """A ``pullrequest_comment``; the PR comes from the context or the comment's ``pullrequest``."""
    obj = _obj(obj, "pull request comment")
    if pullrequest_id is None:
        number = _need(obj.get("pullrequest") or {}, "id", "pull request comment 'pullrequest'")
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
    obj = _obj(obj, "pull request activity")
    kinds = [k for k, v in obj.items() if k not in _ACTIVITY_META and isinstance(v, dict)]
    if not kinds:
        raise RowError("pull request activity has no payload (update, approval, comment, ...)")
    kind = kinds[0]
    payload = obj[kind]
    if pullrequest_id is None:
        pr = obj.get("pull_request") or payload.get("pullrequest") or {}
        pullrequest_id = pullrequest_key(
            repository_id, _need(pr, "id", "pull request activity 'pull_request'")
        )
    rs: RowSet = {}
    if kind == "comment":
        date = _time(payload, "created_on", "activity comment")
        user_ref = payload.get("user")
        number = payload.get("id")
    else:
        date = _time(payload, "date", f"activity {kind}")
        user_ref = payload.get("user") or payload.get("author")
        number = None
    if date is None:
        raise RowError(f"pull request activity {kind} has no 'date'")
    user_id = _ref_user(rs, user_ref, source)
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
        "source_commit": _get(payload, "source", "commit", "hash"),
        "destination_commit": _get(payload, "destination", "commit", "hash"),
        "activity_id": None,
        "json": _json(obj),
    }
    _add(rs, "pullrequest_activity", row)
    return rs


def pr_commit_link(obj: dict, *, source: str, repository_id: str, pullrequest_id: str) -> RowSet:
    """A commit listed by ``/pullrequests/{id}/commits``: the link row and the commit's rows."""
    obj = _obj(obj, "pull request commit")
    commit_repo = _uuid(obj.get("repository")) or repository_id  # a fork's commits live there
    rs = commit(obj, source=source, repository_id=commit_repo)
    hash_ = obj["hash"]
    _add(
        rs,
        "pullrequest_commits",
        {
            "id": f"{pullrequest_id}/{hash_}",
            "source": source,
            "pullrequest_id": pullrequest_id,
            "repository_id": repository_id,
            "commit_id": commit_key(commit_repo, hash_),
            "hash": hash_,
            "json": _json({"type": "commit", "hash": hash_}),
        },
    )
    return rs


# -- commits and refs ---------------------------------------------------------------------


def _split_author(raw: Any) -> tuple[str | None, str | None]:
    if not isinstance(raw, str):
        return None, None
    found = _AUTHOR.match(raw)
    if not found:
        return (raw.strip() or None), None
    return (found["name"] or None), (found["email"] or None)


def commit(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A commit plus one ``commit_parents`` row per parent (in order)."""
    obj = _obj(obj, "commit")
    hash_ = _need(obj, "hash", "commit")
    key = commit_key(repository_id, hash_)
    rs: RowSet = {}
    author = obj.get("author") if isinstance(obj.get("author"), dict) else {}
    name, email = _split_author(author.get("raw"))
    parents = [p for p in obj.get("parents") or () if isinstance(p, dict) and p.get("hash")]
    row = {
        "id": key,
        "source": source,
        "repository_id": repository_id,
        "hash": hash_,
        "author_raw": author.get("raw"),
        "author_name": name,
        "author_email": email,
        "author_id": _ref_user(rs, author.get("user"), source),
        "date": _time(obj, "date", "commit"),
        "committer_raw": None,
        "committer_date": None,
        "message": obj.get("message", _text(obj.get("summary"))),
        "parent_count": len(parents),
        "json": _json(obj),
    }
    _add(rs, "commits", row)
    for position, parent in enumerate(parents):
        _add(
            rs,
            "commit_parents",
            {
                "id": f"{key}/parent/{position}",
                "source": source,
                "commit_id": key,
                "repository_id": repository_id,
                "parent_hash": parent["hash"],
                "parent_id": commit_key(repository_id, parent["hash"]),
                "position": position,
                "json": _json(parent),
            },
        )
    return rs


def commit_status(
    obj: dict, *, source: str, repository_id: str, commit_hash: str | None = None
) -> RowSet:
    """A build status, keyed by commit + ``key`` (real payloads carry no ``uuid``, §3.17).

    The commit comes from the context or the ``links.commit`` URL.
    """
    obj = _obj(obj, "commit status")
    key = _need(obj, "key", "commit status")
    if commit_hash is None:
        href = _get(obj, "links", "commit", "href")
        commit_hash = href.rstrip("/").rsplit("/", 1)[-1] if isinstance(href, str) else None
    if not commit_hash:
        raise RowError("commit status has no commit (context or 'links.commit')")
    row = {
        "id": status_key(repository_id, commit_hash, key),
        "source": source,
        "commit_id": commit_key(repository_id, commit_hash),
        "repository_id": repository_id,
        "commit_hash": commit_hash,
        "key": key,
        "state": obj.get("state"),
        "name": obj.get("name"),
        "description": obj.get("description"),
        "url": obj.get("url"),
        "refname": obj.get("refname"),
        "created_on": _time(obj, "created_on", "commit status"),
        "updated_on": _time(obj, "updated_on", "commit status"),
        "json": _json(obj),
    }
    return {"commit_statuses": [row]}


def branch(obj: dict, *, source: str, repository_id: str) -> RowSet:
    obj = _obj(obj, "branch")
    name = _need(obj, "name", "branch")
    target = _get(obj, "target", "hash")
    row = {
        "id": f"{repository_id}/branch/{name}",
        "source": source,
        "repository_id": repository_id,
        "name": name,
        "target_hash": target,
        "target_id": commit_key(repository_id, target) if target else None,
        "is_default": None,
        "json": _json(obj),
    }
    return {"branches": [row]}


def tag(obj: dict, *, source: str, repository_id: str) -> RowSet:
    obj = _obj(obj, "tag")
    name = _need(obj, "name", "tag")
    target = _get(obj, "target", "hash")
    rs: RowSet = {}
    tagger = obj.get("tagger") if isinstance(obj.get("tagger"), dict) else {}
    row = {
        "id": f"{repository_id}/tag/{name}",
        "source": source,
        "repository_id": repository_id,
        "name": name,
        "target_hash": target,
        "target_id": commit_key(repository_id, target) if target else None,
        "date": _time(obj, "date", "tag"),
        "message": obj.get("message"),
        "tagger_raw": tagger.get("raw"),
        "tagger_id": _ref_user(rs, tagger.get("user"), source),
        "json": _json(obj),
    }
    _add(rs, "tags", row)
    return rs


# -- issues -------------------------------------------------------------------------------


def _named(obj: dict, table: str, kind: str, source: str, repository_id: str) -> RowSet:
    obj = _obj(obj, kind)
    api_id = _int(_need(obj, "id", kind), f"{kind} 'id'")
    row = {
        "id": named_key(repository_id, kind, api_id),
        "source": source,
        "repository_id": repository_id,
        "api_id": api_id,
        "name": obj.get("name"),
        "json": _json(obj),
    }
    return {table: [row]}


def milestone(obj: dict, *, source: str, repository_id: str) -> RowSet:
    return _named(obj, "milestones", "milestone", source, repository_id)


def version(obj: dict, *, source: str, repository_id: str) -> RowSet:
    return _named(obj, "versions", "version", source, repository_id)


def component(obj: dict, *, source: str, repository_id: str) -> RowSet:
    return _named(obj, "components", "component", source, repository_id)


def issue(obj: dict, *, source: str, repository_id: str, origin: str = "api") -> RowSet:
    """An issue. Milestone/version/component become FKs (when they carry an id) and names."""
    obj = _obj(obj, "issue")
    number = _int(_need(obj, "id", "issue"), "issue 'id'")
    rs: RowSet = {}
    refs: dict[str, Any] = {}
    for kind in ("milestone", "version", "component"):
        ref = obj.get(kind)
        ref_id = _get(ref, "id")
        refs[f"{kind}_id"] = named_key(repository_id, kind, ref_id) if ref_id is not None else None
        refs[f"{kind}_name"] = ref.get("name") if isinstance(ref, dict) else ref
    watchers = obj.get("watchers")
    row = {
        "id": issue_key(repository_id, number),
        "source": source,
        "repository_id": repository_id,
        "number": number,
        "title": obj.get("title"),
        "content": _text(obj.get("content")),
        "content_html": _html(obj.get("content")),
        "markup": _get(obj, "content", "markup"),
        "state": obj.get("state"),
        "kind": obj.get("kind"),
        "priority": obj.get("priority"),
        "reporter_id": _ref_user(rs, obj.get("reporter"), source),
        "assignee_id": _ref_user(rs, obj.get("assignee"), source),
        **refs,
        "votes": _int(obj.get("votes"), "issue 'votes'"),
        "watchers": _dumps(watchers) if watchers is not None else None,
        "created_on": _time(obj, "created_on", "issue"),
        "updated_on": _time(obj, "updated_on", "issue"),
        "edited_on": _time(obj, "edited_on", "issue"),
        "content_updated_on": _time(obj, "content_updated_on", "issue"),
        "origin": origin,
        "json": _json(obj),
    }
    _add(rs, "issues", row)
    return rs


def _issue_id(obj: dict, repository_id: str, issue_id: str | None, what: str) -> str:
    if issue_id is not None:
        return issue_id
    return issue_key(repository_id, _need(obj.get("issue") or {}, "id", f"{what} 'issue'"))


def issue_comment(
    obj: dict, *, source: str, repository_id: str, issue_id: str | None = None
) -> RowSet:
    obj = _obj(obj, "issue comment")
    return _comment(
        obj,
        kind="issue",
        source=source,
        repository_id=repository_id,
        pr_id=None,
        issue_id=_issue_id(obj, repository_id, issue_id, "issue comment"),
    )


def issue_change(
    obj: dict, *, source: str, repository_id: str, issue_id: str | None = None
) -> RowSet:
    """A change-log record plus one ``issue_change_items`` row per changed field."""
    obj = _obj(obj, "issue change")
    change_id = _int(_need(obj, "id", "issue change"), "issue change 'id'")
    issue_id = _issue_id(obj, repository_id, issue_id, "issue change")
    key = f"{issue_id}/change/{change_id}"
    rs: RowSet = {}
    user_id = _ref_user(rs, obj.get("user"), source)
    created_on = _time(obj, "created_on", "issue change")
    changes = obj.get("changes") if isinstance(obj.get("changes"), dict) else {}
    _add(
        rs,
        "issue_changes",
        {
            "id": key,
            "source": source,
            "issue_id": issue_id,
            "repository_id": repository_id,
            "change_id": change_id,
            "user_id": user_id,
            "created_on": created_on,
            "message": _text(obj.get("message")),
            "message_html": _html(obj.get("message")),
            "changes": _dumps(changes),
            "json": _json(obj),
        },
    )
    for field, values in changes.items():
        values = values if isinstance(values, dict) else {}
        _add(
            rs,
            "issue_change_items",
            {
                "id": f"{key}/{field}",
                "source": source,
                "change_id": key,
                "issue_id": issue_id,
                "repository_id": repository_id,
                "user_id": user_id,
                "created_on": created_on,
                "field": field,
                "old": _blank_none(values.get("old")),
                "new": _blank_none(values.get("new")),
                "json": _json(values),
            },
        )
    return rs


def _blank_none(value: Any) -> Any:
    return None if value == "" else value


def issue_attachment(
    obj: dict,
    *,
    source: str,
    repository_id: str,
    issue_id: str,
    content: bytes | None = None,
) -> RowSet:
    """Attachment metadata (``{name, links}``), with the file's bytes when downloaded."""
    obj = _obj(obj, "issue attachment")
    name = _need(obj, "name", "issue attachment")
    row = {
        "id": f"{issue_id}/attachment/{name}",
        "source": source,
        "issue_id": issue_id,
        "repository_id": repository_id,
        "name": name,
        "path": obj.get("path"),
        "user_id": None,
        "content": content,
        "size": len(content) if content is not None else None,
        "created_on": None,
        "json": _json(obj),
    }
    return {"issue_attachments": [row]}


def ids_of(rowset: RowSet, table: str) -> set[str]:
    """The ids a rowset holds for one table (the keep-set for a reconciliation)."""
    return {row["id"] for row in rowset.get(table, ())}
