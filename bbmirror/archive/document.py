"""Build one repository's export document from the mirror's issue tables (export-format.md §4).

Users are built as ``Who`` values and rendered per file: ``{display_name, account_id}`` in
db-2.0.json, the username in db-1.0.json (§5). Rows imported from an archive carry, in their
JSON under ``"archive"``, what the record had beyond the 2.0 API shape, and are written back as
they came: a log's own time and raw values, a carrier comment's ``updated_on``, an attachment's
zip path. Choices where the reference is silent:

- A change becomes logs on the comment with the change's id when that comment is the same
  event (same issue and user, within a minute: in Bitbucket change id = comment id); otherwise
  on a new carrier comment with that id (content = the change message), renumbered above every
  comment id if the id is taken by another comment. ``assignee_account_id`` items become
  ``responsible`` logs (usernames, §4.4 rule 1) only without an ``assignee`` item.
- Every attachment record is written, with or without its bytes (real exports, too, point at
  files that are not there); only the bytes the mirror holds become zip entries.
- ``meta`` comes from the last imported archive (``sync_state``), else Bitbucket's defaults.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bbmirror.archive.container import check_path
from bbmirror.archive.encoding import DEFAULT_META, TOP_LEVEL_KEYS, log_name, log_value
from bbmirror.archive.importer import STATE_STREAM
from bbmirror.archive.model import ArchiveError
from bbmirror.archive.shapes import ARCHIVE
from bbmirror.store.db import Store

SAME_EVENT_SECONDS = 60  # a carrier comment and its logs: at most 17.5 s apart in real exports


@dataclass(frozen=True, slots=True)
class Who:
    """A user as both export files can name them."""

    display_name: str | None
    account_id: str | None
    username: str | None  # as a 1.0 archive named them (the API no longer gives usernames)
    nickname: str | None = None

    def render(self, fmt: str) -> Any:
        if fmt == "1.0":
            return self.username or self.nickname or self.display_name
        name = self.display_name or self.username or self.nickname
        return {"display_name": name, "account_id": self.account_id}


def render(value: Any, fmt: str) -> Any:
    """The document with every ``Who`` written as ``fmt`` ("1.0" or "2.0") writes users."""
    if isinstance(value, Who):
        return value.render(fmt)
    if isinstance(value, dict):
        return {k: render(v, fmt) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, fmt) for v in value]
    return value


def users_in(value: Any) -> list[Who]:
    """Every user the document names."""
    if isinstance(value, Who):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [w for v in value for w in users_in(v)]
    return []


def _same_event(comment: dict, number: int, user: Any, created: str | None) -> bool:
    """Whether a comment is the one carrying a change (same issue, user, and moment)."""
    if comment["issue"] != number or comment["user"] != user or not created:
        return False
    apart = datetime.fromisoformat(comment["created_on"]) - datetime.fromisoformat(created)
    return abs(apart.total_seconds()) <= SAME_EVENT_SECONDS


def _extra(raw: str | None) -> dict[str, Any] | None:
    """The ``"archive"`` part of a row's JSON, or None for rows that live sync wrote."""
    found = json.loads(raw or "null")
    return found.get(ARCHIVE) if isinstance(found, dict) else None


class Builder:
    """Reads one repository's issue tables and builds the export document."""

    def __init__(self, store: Store, repo_id: str, full_name: str) -> None:
        self.conn, self.repo_id, self.full_name = store.conn, repo_id, full_name
        self.store = store
        self.users = {
            row[0]: row[1:]
            for row in self.conn.execute(
                "SELECT id, account_id, display_name, nickname, username FROM users"
            )
        }
        self.by_account = {v[0]: v for v in self.users.values() if v[0]}
        self.without_bytes = 0
        self.format: str | None = None  # of the last archive imported, if any
        self.files: list[tuple[str, str]] = []  # (zip entry, issue_attachments row id)

    def rows(self, sql: str) -> list[Any]:
        return self.conn.execute(sql, (self.repo_id,)).fetchall()

    def user(self, user_id: str | None) -> Who | None:
        found = self.users.get(user_id or "")
        if found is None:
            return None
        account_id, display_name, nickname, username = found
        return Who(display_name, account_id, username, nickname)

    def user_obj(self, obj: Any) -> Who | None:
        """A user as stored in a JSON column (watchers, voters, meta)."""
        if not isinstance(obj, dict):
            return None
        account_id = obj.get("account_id")
        known = self.by_account.get(account_id) if account_id else None
        return Who(
            obj.get("display_name") or (known[1] if known else None),
            account_id,
            obj.get("username") or (known[3] if known else None),
            obj.get("nickname") or (known[2] if known else None),
        )

    def username(self, value: str | None) -> str | None:
        found = self.by_account.get(value) if value else None
        return (found[2] or found[3] or value) if found else value

    def document(self) -> dict[str, Any]:
        issues, numbers = self.issues()
        comments = self.comments(numbers)
        logs = self.changes(numbers, comments)
        attachments = self.attachments(numbers)
        state = self.store.get_state(self.issue_source(), self.repo_id, STATE_STREAM)
        meta = dict(DEFAULT_META)
        self.format = state.extra.get("format") if state else None
        if state:
            meta.update(state.extra.get("meta") or {})
            meta["default_assignee"] = self.user_obj(meta.get("default_assignee"))
        document = {
            "milestones": self.names("milestones"),
            "attachments": attachments,
            "versions": self.names("versions"),
            "comments": sorted(comments.values(), key=lambda c: c["id"]),
            "meta": meta,
            "components": self.names("components"),
            "issues": issues,
            "logs": logs,
        }
        assert tuple(document) == TOP_LEVEL_KEYS
        return document

    def issue_source(self) -> str:
        (source,) = self.conn.execute(
            "SELECT source FROM repositories WHERE id = ?", (self.repo_id,)
        ).fetchone()
        return source

    def names(self, table: str) -> list[dict[str, str]]:
        sql = (
            f"SELECT name FROM [{table}] WHERE repository_id = ? AND deleted_at IS NULL"
            " ORDER BY api_id IS NULL, api_id, rowid"
        )
        return [{"name": name} for (name,) in self.rows(sql) if name is not None]

    def issues(self) -> tuple[list[dict], dict[str, int]]:
        sql = (
            "SELECT id, number, title, content, state, kind, priority, reporter_id, assignee_id,"
            " milestone_name, version_name, component_name, watchers, created_on, updated_on,"
            " edited_on, content_updated_on, json, origin FROM issues"
            " WHERE repository_id = ? AND deleted_at IS NULL ORDER BY number"
        )
        out, numbers = [], {}
        for row in self.rows(sql):
            (key, number, title, content, state, kind, priority, reporter, assignee) = row[:9]
            milestone, version, component, watchers, created, updated = row[9:15]
            edited, content_updated, raw, origin = row[15:]
            numbers[key] = number
            voters = (json.loads(raw) or {}).get("voters") or []
            if content is None and origin != "archive":
                content = ""  # the API's "no body"; an archive's null stays null
            out.append(
                {
                    "assignee": self.user(assignee),
                    "component": component,
                    "content": content,
                    "content_updated_on": content_updated,
                    "created_on": created,
                    "edited_on": edited,
                    "id": number,
                    "kind": kind,
                    "milestone": milestone,
                    "priority": priority,
                    "reporter": self.user(reporter),
                    "status": state,
                    "title": title,
                    "updated_on": updated,
                    "version": version,
                    "voters": [u for u in map(self.user_obj, voters) if u],
                    "watchers": [u for u in map(self.user_obj, json.loads(watchers or "[]")) if u],
                }
            )
        return out, numbers

    def comments(self, numbers: dict[str, int]) -> dict[int, dict]:
        sql = (
            "SELECT issue_id, comment_id, body, user_id, created_on, updated_on, json"
            " FROM comments WHERE kind = 'issue' AND repository_id = ? AND deleted_at IS NULL"
            " AND coalesce(deleted, 0) = 0 ORDER BY comment_id"
        )
        out: dict[int, dict] = {}
        for issue_id, comment_id, body, user_id, created, updated, raw in self.rows(sql):
            if issue_id not in numbers or comment_id is None:
                continue
            extra = _extra(raw)
            out[comment_id] = {
                "content": body,
                "created_on": created,
                "id": comment_id,
                "issue": numbers[issue_id],
                "updated_on": extra.get("updated_on")
                if extra is not None
                else (updated if updated != created else None),
                "user": self.user(user_id),
            }
        return out

    def changes(self, numbers: dict[str, int], comments: dict[int, dict]) -> list[dict]:
        items: dict[str, list[tuple]] = {}
        sql = (
            "SELECT change_id, field, old, new, created_on, json FROM issue_change_items"
            " WHERE repository_id = ? AND deleted_at IS NULL ORDER BY rowid"
        )
        for change_key, *item in self.rows(sql):
            items.setdefault(change_key, []).append(tuple(item))
        sql = (
            "SELECT id, issue_id, change_id, user_id, created_on, message, json"
            " FROM issue_changes WHERE repository_id = ? AND deleted_at IS NULL"
            " ORDER BY created_on, change_id"
        )
        changes = [r for r in self.rows(sql) if r[1] in numbers and r[2] is not None]
        next_id = max([*comments, *(r[2] for r in changes), 0]) + 1
        logs: list[dict] = []
        for key, issue_id, change_id, user_id, created, message, raw in changes:
            number, user, extra = numbers[issue_id], self.user(user_id), _extra(raw)
            carrier = comments.get(change_id)
            if carrier is not None and not _same_event(carrier, number, user, created):
                change_id, next_id = next_id, next_id + 1
                carrier = None
            if carrier is None and (extra or {}).get("carrier", True):
                comments[change_id] = {
                    "content": message if extra is not None else message or None,
                    "created_on": created,
                    "id": change_id,
                    "issue": number,
                    "updated_on": (extra or {}).get("updated_on"),
                    "user": user,
                }
            fields = {f for f, *_ in items.get(key, [])}
            for field, old, new, item_created, item_raw in items.get(key, []):
                if field == "assignee_account_id":
                    if "assignee" in fields:
                        continue
                    old, new = self.username(old), self.username(new)
                log = {
                    "changed_from": log_value(old),
                    "changed_to": log_value(new),
                    "comment": change_id,
                    "created_on": item_created or created,
                    "field": log_name(field),
                    "issue": number,
                    "user": user,
                }
                log.update((_extra(item_raw) or {}).items())
                logs.append(log)
        return logs

    def attachments(self, numbers: dict[str, int]) -> list[dict]:
        sql = (
            "SELECT id, issue_id, name, user_id, created_on, json, path, content IS NOT NULL"
            " FROM issue_attachments WHERE repository_id = ? AND deleted_at IS NULL ORDER BY rowid"
        )
        records, paths = [], set()
        for row_id, issue_id, name, user_id, created, raw, path, has_bytes in self.rows(sql):
            if issue_id not in numbers:
                continue
            if not _usable(path) or path in paths:
                path = "attachments/" + hashlib.md5(row_id.encode()).hexdigest()
            paths.add(path)
            record: dict[str, Any] = {"filename": name, "issue": numbers[issue_id], "path": path}
            obj = json.loads(raw or "null") or {}
            url = obj.get("url") if "path" in obj else self.url(numbers[issue_id], name, created)
            if url:
                record["url"] = url
            record["user"] = self.user(user_id)
            records.append(record)
            if has_bytes:
                self.files.append((path, row_id))
            else:
                self.without_bytes += 1
        return records

    def url(self, number: int, name: str, created: str | None) -> str | None:
        """``…/issues/attachments/{issue}/{ws}/{repo}/{epoch}/{issue}/{name}`` (§4.5)."""
        if not created:
            return None
        epoch = f"{datetime.fromisoformat(created).timestamp():.2f}"
        full = self.full_name
        return (
            f"https://bitbucket.org/{full}/issues/attachments/{number}/{full}/{epoch}/"
            f"{number}/{quote(name)}"
        )


def _usable(path: str | None) -> bool:
    """An archive's own zip path, if it is one we may write back (no ``..``, not absolute)."""
    if not path or path in (".signature", "db-1.0.json", "db-2.0.json"):
        return False
    try:
        check_path(path)
    except ArchiveError:
        return False
    return True
