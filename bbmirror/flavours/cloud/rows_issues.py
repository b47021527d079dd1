"""Bitbucket Cloud's issue tracker as rows: issues, their comments, changes and attachments.

Choices where the reference is silent:

- Issue change items map a cleared value (``""``) to NULL; the original strings stay in
  ``issue_changes.changes`` and ``json``.
"""

from __future__ import annotations

from typing import Any

from bbmirror.flavours.cloud.rows import _comment
from bbmirror.rows import (
    RowSet,
    _add,
    _dumps,
    _get,
    _html,
    _int,
    _json,
    _need,
    _obj,
    _ref_user,
    _text,
    _time,
    issue_key,
    named_key,
)

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
    # what a change and each of its items share: who changed which issue when
    shared = {
        "source": source,
        "issue_id": issue_id,
        "repository_id": repository_id,
        "user_id": user_id,
        "created_on": created_on,
    }
    _add(
        rs,
        "issue_changes",
        {
            "id": key,
            **shared,
            "change_id": change_id,
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
                **shared,
                "change_id": key,
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
