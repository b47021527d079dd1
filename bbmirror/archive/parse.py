"""Validate an export's JSON and normalise it into an ``Archive`` (export-format.md §3-§5, §9).

Choices where the reference leaves room:
- Required: issue ``id`` and ``title``; comment ``id`` and ``issue``; log ``issue`` and
  ``field``; attachment ``path``, ``issue`` and ``filename``. Everything else defaults to null.
- Comments, logs and attachments must point at an issue in the file; a log whose comment is
  missing still forms a change (its id is that comment id). Logs without a ``comment`` are
  grouped by (issue, user, created_on) under ids above every id in the file.
- A comment that carries logs is a change event (id = the comment id, as the 2.0 API shares
  them; message = its text), not a comment row. The simulator, like the 2.0 ``/changes``
  endpoint, keeps a change's message on the change, so live sync and archives agree, and a
  change id never lands in the source-wide comment key space.
- Old 1.0 API records (``local_id``, ``reported_by``, ``metadata.kind``) are accepted too.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bbmirror.archive.api10 import from_api_10
from bbmirror.archive.container import check_path
from bbmirror.archive.encoding import DEFAULT_META, log_name, log_value
from bbmirror.archive.model import (
    Archive,
    ArchiveAttachment,
    ArchiveChange,
    ArchiveComment,
    ArchiveError,
    ArchiveIssue,
    ChangeItem,
    UserRef,
)

LOG_FIELDS = {"status": "state", "responsible": "assignee", "assignee": "assignee"}
NO_VALUE = ("", "None")  # both mean "no value" in logs (§4.4 rule 2)
URL_EPOCH = re.compile(r"/(\d{9,11}(?:\.\d+)?)/\d+/[^/]*$")
META_KEYS = (
    "default_assignee",
    "default_component",
    "default_kind",
    "default_milestone",
    "default_version",
)


def loads(data: bytes, name: str) -> dict[str, Any]:
    """Decode one export JSON file; a clear one-line error if it is not JSON."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ArchiveError(
            f"{name}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(document, dict):
        raise ArchiveError(f"{name}: not a Bitbucket issue export (the JSON is not an object)")
    if not isinstance(document.get("issues"), list):
        raise ArchiveError(f'{name}: not a Bitbucket issue export (no "issues" list)')
    return document


def detect_format(document: dict[str, Any], name: str = "") -> str:
    """1.0 writes users as strings, 2.0 as objects: decide by the values, not the name."""
    issues = document.get("issues") or []
    if any(isinstance(i, dict) and "local_id" in i and "id" not in i for i in issues):
        return "1.0-api"
    for records, keys in (
        (issues, ("reporter", "assignee")),
        (document.get("comments") or [], ("user",)),
        (document.get("logs") or [], ("user",)),
    ):
        for record in records:
            for key in keys:
                value = record.get(key) if isinstance(record, dict) else None
                if isinstance(value, str):
                    return "1.0"
                if isinstance(value, dict):
                    return "2.0"
    return "1.0" if "1.0" in name else "2.0"


def parse_document(
    document: dict[str, Any], name: str = "db-2.0.json", usernames: dict[str, str] | None = None
) -> Archive:
    """Normalise one export document; ``usernames`` maps account_id -> 1.0 username."""
    return _Parser(document, name, usernames or {}).parse()


def to_utc(value: Any, label: str, key: str) -> str | None:
    """Any ISO-8601 (naive = UTC, ``Z``, space separator) -> ``…ffffff+00:00``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ArchiveError(f'{label}: "{key}" is not a timestamp: {value!r}')
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ArchiveError(f'{label}: "{key}" is not a timestamp: {value!r}') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class _Parser:
    def __init__(self, document: dict[str, Any], name: str, usernames: dict[str, str]) -> None:
        self.doc, self.name, self.usernames = document, name, usernames
        self.users: dict[str, UserRef] = {}

    def parse(self) -> Archive:
        archive = Archive(format=detect_format(self.doc, self.name))
        for key in ("milestones", "versions", "components"):
            setattr(archive, key, self.names(key))
        archive.meta = self.meta()
        archive.issues = self.issues(archive.meta.get("default_kind"))
        known = {issue.id for issue in archive.issues}
        comments = self.comments(known)
        archive.changes = self.changes(known, comments)
        carriers = {change.id for change in archive.changes}
        archive.comments = [c for c in comments.values() if c.id not in carriers]
        archive.attachments = self.attachments(known, archive.changes)
        archive.users = self.users
        return archive

    def list(self, key: str) -> list[Any]:
        values = self.doc.get(key)
        if values is None:
            return []
        if not isinstance(values, list):
            raise ArchiveError(f'{self.name}: "{key}" is not a list')
        return values

    def records(self, key: str, singular: str) -> Any:
        for n, record in enumerate(self.list(key)):
            if not isinstance(record, dict):
                raise ArchiveError(f"{key}[{n}]: not an object")
            yield n, record

    def user(self, value: Any, label: str) -> UserRef | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            ref = UserRef(username=value)
        elif isinstance(value, dict):
            first_last = " ".join(
                str(value[k]) for k in ("first_name", "last_name") if value.get(k)
            )
            account_id = value.get("account_id") or None
            ref = UserRef(
                account_id=account_id,
                username=value.get("username")
                or value.get("nickname")
                or self.usernames.get(account_id or ""),
                display_name=value.get("display_name") or first_last or None,
                uuid=value.get("uuid") or None,
            )
            if not ref.key:
                return None
        else:
            raise ArchiveError(f"{label}: a user must be a string or an object, not {value!r}")
        return self.users.setdefault(ref.key, ref)

    def names(self, key: str) -> list[str]:
        names: list[str] = []
        for n, record in enumerate(self.list(key)):
            name = record.get("name") if isinstance(record, dict) else record
            if not isinstance(name, str):
                raise ArchiveError(f'{key}[{n}]: missing "name"')
            if name not in names:
                names.append(name)
        return names

    def meta(self) -> dict[str, Any]:
        raw = self.doc.get("meta")
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ArchiveError(f'{self.name}: "meta" is not an object')
        # A key the file leaves out has Bitbucket's default; a key given as null stays null.
        meta: dict[str, Any] = {k: _named(raw.get(k, DEFAULT_META[k])) for k in META_KEYS}
        meta["default_assignee"] = self.user(raw.get("default_assignee"), "meta")
        return meta

    def issues(self, default_kind: str | None) -> list[ArchiveIssue]:
        issues: dict[int, ArchiveIssue] = {}
        for n, raw in self.records("issues", "issue"):
            if "id" not in raw and "local_id" in raw:
                raw = from_api_10(raw)
            issue_id = _int(raw, "id", f"issues[{n}]")
            label = f"issue #{issue_id}"
            if issue_id in issues:
                raise ArchiveError(f"{label}: duplicate id")
            created = to_utc(raw.get("created_on"), label, "created_on")
            issues[issue_id] = ArchiveIssue(
                id=issue_id,
                title=_text(raw, "title", label, required=True) or "",
                content=_text(raw, "content", label),
                reporter=self.user(raw.get("reporter"), label),
                assignee=self.user(raw.get("assignee"), label),
                kind=_text(raw, "kind", label) or default_kind,
                priority=_text(raw, "priority", label),
                state=_text(raw, "status", label) or _text(raw, "state", label),
                component=_named(raw.get("component")),
                milestone=_named(raw.get("milestone")),
                version=_named(raw.get("version")),
                created_on=created,
                updated_on=to_utc(raw.get("updated_on"), label, "updated_on") or created,
                edited_on=to_utc(raw.get("edited_on"), label, "edited_on"),
                content_updated_on=to_utc(
                    raw.get("content_updated_on"), label, "content_updated_on"
                ),
                watchers=self.user_list(raw, "watchers", label),
                voters=self.user_list(raw, "voters", label),
            )
        return sorted(issues.values(), key=lambda i: i.id)

    def user_list(self, raw: dict, key: str, label: str) -> list[UserRef]:
        values = raw.get(key) or []
        if not isinstance(values, list):
            raise ArchiveError(f'{label}: "{key}" is not a list')
        users = [self.user(v, label) for v in values]
        return [u for u in dict.fromkeys(users) if u is not None]

    def comments(self, known: set[int]) -> dict[int, ArchiveComment]:
        comments: dict[int, ArchiveComment] = {}
        for n, raw in self.records("comments", "comment"):
            comment_id = _int(raw, "id", f"comments[{n}]")
            label = f"comment {comment_id}"
            if comment_id in comments:
                raise ArchiveError(f"{label}: duplicate id")
            issue = _issue_ref(raw, label, known)
            created = to_utc(raw.get("created_on"), label, "created_on")
            comments[comment_id] = ArchiveComment(
                id=comment_id,
                issue=issue,
                user=self.user(raw.get("user"), label),
                content=_text(raw, "content", label),
                created_on=created,
                updated_on=to_utc(raw.get("updated_on"), label, "updated_on"),
            )
        return dict(sorted(comments.items()))

    def changes(self, known: set[int], comments: dict[int, ArchiveComment]) -> list[ArchiveChange]:
        logs = list(self.records("logs", "log"))
        ids = [c for _, raw in logs if isinstance(c := raw.get("comment"), int)]
        next_id = max([*comments, *ids, 0]) + 1
        changes: dict[int, ArchiveChange] = {}
        orphans: dict[tuple, int] = {}  # (issue, user, created_on) -> synthetic id
        for n, raw in logs:
            label = f"logs[{n}]"
            issue = _issue_ref(raw, label, known)
            label = f"logs[{n}] (issue #{issue})"
            field = _text(raw, "field", label, required=True) or ""
            user = self.user(raw.get("user"), label)
            created = to_utc(raw.get("created_on"), label, "created_on")
            if raw.get("comment") is None:
                key = (issue, user.key if user else "", created)
                if key not in orphans:
                    orphans[key], next_id = next_id, next_id + 1
                comment_id = orphans[key]
            else:
                comment_id = _int(raw, "comment", label)
            carrier = comments.get(comment_id)
            if carrier is not None and carrier.issue != issue:
                raise ArchiveError(
                    f"{label}: comment {comment_id} belongs to issue #{carrier.issue}"
                )
            change = changes.get(comment_id)
            if change is None:
                change = changes[comment_id] = ArchiveChange(
                    id=comment_id,
                    issue=issue,
                    user=carrier.user if carrier else user,
                    created_on=carrier.created_on if carrier else created,
                    message=carrier.content if carrier else None,
                    updated_on=carrier.updated_on if carrier else None,
                    carrier=carrier is not None,
                )
            elif change.issue != issue:
                raise ArchiveError(
                    f"{label}: comment {comment_id} belongs to issue #{change.issue}"
                )
            change.items.append(_item(raw, field, created))
        return sorted(changes.values(), key=lambda c: (c.issue, c.id))

    def attachments(self, known: set[int], changes: list[ArchiveChange]) -> list[ArchiveAttachment]:
        uploads = {
            (c.issue, item.new): c.created_on
            for c in changes
            for item in c.items
            if item.field == "attachment"
        }
        found: dict[str, ArchiveAttachment] = {}
        for n, raw in self.records("attachments", "attachment"):
            path = raw.get("path")
            if not isinstance(path, str) or not path:
                raise ArchiveError(f'attachments[{n}]: missing "path"')
            label = f"attachment {path!r}"
            issue = _issue_ref(raw, label, known)
            label = f"attachment {path!r} (issue #{issue})"
            try:
                check_path(path)
            except ArchiveError as exc:
                raise ArchiveError(f"{label}: {exc}") from None
            if path in found:
                raise ArchiveError(f"{label}: duplicate path")
            filename = _text(raw, "filename", label, required=True) or ""
            url = _text(raw, "url", label)
            found[path] = ArchiveAttachment(
                path=path,
                issue=issue,
                filename=filename,
                user=self.user(raw.get("user"), label),
                url=url,
                uploaded_on=_url_time(url) or uploads.get((issue, filename)),
            )
        return list(found.values())


def _int(raw: dict, key: str, label: str) -> int:
    value = raw.get(key)
    if value is None:
        raise ArchiveError(f'{label}: missing "{key}"')
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArchiveError(f'{label}: "{key}" is not an integer: {value!r}')
    return value


def _text(raw: dict, key: str, label: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if isinstance(value, dict) and "raw" in value:  # REST-shaped content {raw, markup, html}
        value = value["raw"]
    if value is None:
        if required:
            raise ArchiveError(f'{label}: missing "{key}"')
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ArchiveError(f'{label}: "{key}" is not text: {value!r}')
    return str(value)


def _named(value: Any) -> Any:
    """Milestone/version/component by name; REST-shaped ``{id, name}`` is tolerated (§7)."""
    return value.get("name") if isinstance(value, dict) else value


def _issue_ref(raw: dict, label: str, known: set[int]) -> int:
    issue = _int(raw, "issue", label)
    if issue not in known:
        raise ArchiveError(f"{label}: issue #{issue} is not in the archive")
    return issue


def _item(raw: dict, field: str, created: str | None) -> ChangeItem:
    """A log as a change item; ``raw`` keeps what the normalisation would lose on export."""
    item = ChangeItem(
        field=LOG_FIELDS.get(field, field),
        old=_log_value(raw.get("changed_from")),
        new=_log_value(raw.get("changed_to")),
        created_on=created,
    )
    if log_name(item.field) != field:
        item.raw["field"] = field  # e.g. gibiexport's "assignee"
    for key, value in (("changed_from", item.old), ("changed_to", item.new)):
        if raw.get(key) != log_value(value):
            item.raw[key] = raw.get(key)  # "None", null, or a non-string value
    return item


def _log_value(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return None if text in NO_VALUE else text


def _url_time(url: str | None) -> str | None:
    """The ``{epoch.frac}`` segment of a 2019+ attachment url is its upload time (§4.5)."""
    match = URL_EPOCH.search(url or "")
    if not match:
        return None
    moment = datetime.fromtimestamp(float(match.group(1)), UTC)
    return moment.isoformat(timespec="microseconds")
