"""Bitbucket Cloud's issue tracker as rows: issues, their comments, changes and attachments.

Choices where the reference is silent:

- Issue change items map a cleared value (``""``) to NULL; the original strings stay in
  ``issue_changes.changes`` and ``json``.
"""

from __future__ import annotations

from typing import Any

from bbmirror import rows as shared
from bbmirror.flavours.cloud.rows import _comment
from bbmirror.rows import RowSet, issue_key, named_key

# -- issues -------------------------------------------------------------------------------


def _named(obj: dict, table: str, kind: str, source: str, repository_id: str) -> RowSet:
    obj = shared.as_object(obj, kind)
    api_id = shared.integer(shared.need(obj, "id", kind), f"{kind} 'id'")
    row = {
        "id": named_key(repository_id, kind, api_id),
        "source": source,
        "repository_id": repository_id,
        "api_id": api_id,
        "name": obj.get("name"),
        "json": shared.json(obj),
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
    obj = shared.as_object(obj, "issue")
    number = shared.integer(shared.need(obj, "id", "issue"), "issue 'id'")
    rs: RowSet = {}
    refs: dict[str, Any] = {}
    for kind in ("milestone", "version", "component"):
        ref = obj.get(kind)
        ref_id = shared.get(ref, "id")
        refs[f"{kind}_id"] = named_key(repository_id, kind, ref_id) if ref_id is not None else None
        refs[f"{kind}_name"] = ref.get("name") if isinstance(ref, dict) else ref
    watchers = obj.get("watchers")
    row = {
        "id": issue_key(repository_id, number),
        "source": source,
        "repository_id": repository_id,
        "number": number,
        "title": obj.get("title"),
        "content": shared.text(obj.get("content")),
        "content_html": shared.html(obj.get("content")),
        "markup": shared.get(obj, "content", "markup"),
        "state": obj.get("state"),
        "kind": obj.get("kind"),
        "priority": obj.get("priority"),
        "reporter_id": shared.ref_user(rs, obj.get("reporter"), source),
        "assignee_id": shared.ref_user(rs, obj.get("assignee"), source),
        **refs,
        "votes": shared.integer(obj.get("votes"), "issue 'votes'"),
        "watchers": shared.dumps(watchers) if watchers is not None else None,
        "created_on": shared.time(obj, "created_on", "issue"),
        "updated_on": shared.time(obj, "updated_on", "issue"),
        "edited_on": shared.time(obj, "edited_on", "issue"),
        "content_updated_on": shared.time(obj, "content_updated_on", "issue"),
        "origin": origin,
        "json": shared.json(obj),
    }
    return shared.add(rs, "issues", row)


def _issue_id(obj: dict, repository_id: str, issue_id: str | None, what: str) -> str:
    if issue_id is not None:
        return issue_id
    return issue_key(repository_id, shared.need(obj.get("issue") or {}, "id", f"{what} 'issue'"))


def issue_comment(
    obj: dict, *, source: str, repository_id: str, issue_id: str | None = None
) -> RowSet:
    obj = shared.as_object(obj, "issue comment")
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
    obj = shared.as_object(obj, "issue change")
    change_id = shared.integer(shared.need(obj, "id", "issue change"), "issue change 'id'")
    issue_id = _issue_id(obj, repository_id, issue_id, "issue change")
    key = f"{issue_id}/change/{change_id}"
    rs: RowSet = {}
    user_id = shared.ref_user(rs, obj.get("user"), source)
    created_on = shared.time(obj, "created_on", "issue change")
    changes = obj.get("changes") if isinstance(obj.get("changes"), dict) else {}
    # what a change and each of its items share: who changed which issue when
    common = {
        "source": source,
        "issue_id": issue_id,
        "repository_id": repository_id,
        "user_id": user_id,
        "created_on": created_on,
    }
    shared.add(
        rs,
        "issue_changes",
        {
            "id": key,
            **common,
            "change_id": change_id,
            "message": shared.text(obj.get("message")),
            "message_html": shared.html(obj.get("message")),
            "changes": shared.dumps(changes),
            "json": shared.json(obj),
        },
    )
    for field, values in changes.items():
        values = values if isinstance(values, dict) else {}
        shared.add(
            rs,
            "issue_change_items",
            {
                "id": f"{key}/{field}",
                **common,
                "change_id": key,
                "field": field,
                "old": _blank_none(values.get("old")),
                "new": _blank_none(values.get("new")),
                "json": shared.json(values),
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
    obj = shared.as_object(obj, "issue attachment")
    name = shared.need(obj, "name", "issue attachment")
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
        "json": shared.json(obj),
    }
    return {"issue_attachments": [row]}
