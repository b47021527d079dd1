"""Export a mirrored repository's issues as a Bitbucket-compatible ``db-2.0.json`` zip.

Works the same whether the rows came from live sync or an archive (export-format.md §9).
Choices where the reference is silent:

- Only ``db-2.0.json`` is written, no ``.signature`` (we cannot compute Bitbucket's) and no
  ``db-1.0.json``. Tombstoned rows and deleted comments are left out.
- A change becomes logs on the comment with the change's id when that comment is the same
  event (same issue and user, within a minute: in Bitbucket change id = comment id); otherwise
  on a new carrier comment with that id (content = the change message or null), renumbered
  above every comment id if the id is taken by another comment. ``assignee_account_id``
  items become ``responsible`` logs (usernames, §4.4 rule 1) only without an ``assignee`` item.
- A user without an account_id (from a 1.0 archive) is written ``{display_name, account_id:
  null}``. Attachments whose bytes were never downloaded are skipped and counted.
- ``meta`` comes from the last imported archive (``sync_state``), else Bitbucket's defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bbmirror.archive.encoding import LOG_VALUE_LIMIT, TOP_LEVEL_KEYS, dumps
from bbmirror.archive.importer import STATE_STREAM, split_repo
from bbmirror.archive.model import ArchiveError
from bbmirror.store.db import Store

LOG_FIELDS = {"state": "status", "assignee": "responsible", "assignee_account_id": "responsible"}
SAME_EVENT_SECONDS = 60  # a carrier comment and its logs: at most 17.5 s apart in real exports
DEFAULT_META = {
    "default_assignee": None,
    "default_component": None,
    "default_kind": "bug",
    "default_milestone": None,
    "default_version": None,
}


@dataclass
class ExportSummary:
    repository: str
    path: str
    issues: int = 0
    comments: int = 0
    logs: int = 0
    attachments: int = 0
    skipped_attachments: int = 0  # stored without their bytes

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        text = (
            f"exported {self.repository} to {self.path}: {self.issues} issues, "
            f"{self.comments} comments, {self.logs} logs, {self.attachments} attachments"
        )
        if self.skipped_attachments:
            text += f"; {self.skipped_attachments} attachments skipped (no bytes in the mirror)"
        return text


def export_archive(
    db_path: str | Path, repo: str, out_path: str | Path, *, source: str | None = None
) -> ExportSummary:
    """Write ``out_path`` (atomically: a temporary file renamed into place)."""
    split_repo(repo)
    out = Path(out_path)
    with Store.open(db_path, readonly=True) as store:
        repo_id, full_name = _repository(store, repo, source)
        builder = _Builder(store, repo_id, full_name)
        document, files = builder.document()
        summary = ExportSummary(
            repository=full_name,
            path=str(out),
            issues=len(document["issues"]),
            comments=len(document["comments"]),
            logs=len(document["logs"]),
            attachments=len(files),
            skipped_attachments=builder.skipped,
        )
        handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or ".")
        os.close(handle)
        try:
            with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
                _put(archive, "db-2.0.json", dumps(document))
                for path, row_id in files:
                    (content,) = store.conn.execute(
                        "SELECT content FROM issue_attachments WHERE id = ?", (row_id,)
                    ).fetchone()
                    _put(archive, path, content)
            os.replace(temp, out)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    return summary


def _put(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED  # never LZMA: Bitbucket's importer refuses it
    info.external_attr = 0o100600 << 16
    archive.writestr(info, data)


def _same_event(comment: dict, number: int, user: Any, created: str | None) -> bool:
    """Whether a comment is the one carrying a change (same issue, user, and moment)."""
    if comment["issue"] != number or comment["user"] != user or not created:
        return False
    apart = datetime.fromisoformat(comment["created_on"]) - datetime.fromisoformat(created)
    return abs(apart.total_seconds()) <= SAME_EVENT_SECONDS


def _repository(store: Store, repo: str, source: str | None) -> tuple[str, str]:
    sql = (
        "SELECT id, full_name, source FROM repositories WHERE lower(full_name) = lower(?)"
        " AND deleted_at IS NULL ORDER BY id"
    )
    found = [(i, n) for i, n, s in store.conn.execute(sql, (repo,)) if source in (None, s)]
    if not found:
        raise ArchiveError(f"{repo}: no such repository in the mirror")
    return found[0]


class _Builder:
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
        self.skipped = 0

    def rows(self, sql: str) -> list[Any]:
        return self.conn.execute(sql, (self.repo_id,)).fetchall()

    def user(self, user_id: str | None) -> dict[str, Any] | None:
        found = self.users.get(user_id or "")
        if found is None:
            return None
        account_id, display_name, nickname, username = found
        return {"display_name": display_name or nickname or username, "account_id": account_id}

    def user_obj(self, obj: Any) -> dict[str, Any] | None:
        """A user as stored in a JSON column (watchers, voters, meta)."""
        if not isinstance(obj, dict):
            return None
        account_id = obj.get("account_id")
        known = self.by_account.get(account_id) if account_id else None
        name = obj.get("display_name") or (known[1] if known else None) or obj.get("username")
        return {"display_name": name, "account_id": account_id}

    def username(self, value: str | None) -> str | None:
        found = self.by_account.get(value) if value else None
        return (found[2] or found[3] or value) if found else value

    def document(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        issues, numbers = self.issues()
        comments = self.comments(numbers)
        logs = self.changes(numbers, comments)
        attachments, files = self.attachments(numbers)
        state = self.store.get_state(self.issue_source(), self.repo_id, STATE_STREAM)
        meta = dict(DEFAULT_META)
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
        return document, files

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
            " edited_on, content_updated_on, json FROM issues"
            " WHERE repository_id = ? AND deleted_at IS NULL ORDER BY number"
        )
        out, numbers = [], {}
        for row in self.rows(sql):
            (key, number, title, content, state, kind, priority, reporter, assignee) = row[:9]
            milestone, version, component, watchers, created, updated = row[9:15]
            edited, content_updated, raw = row[15:]
            numbers[key] = number
            voters = (json.loads(raw) or {}).get("voters") or []
            out.append(
                {
                    "assignee": self.user(assignee),
                    "component": component,
                    "content": content if content is not None else "",
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
            "SELECT issue_id, comment_id, body, user_id, created_on, updated_on FROM comments"
            " WHERE kind = 'issue' AND repository_id = ? AND deleted_at IS NULL"
            " AND coalesce(deleted, 0) = 0 ORDER BY comment_id"
        )
        out: dict[int, dict] = {}
        for issue_id, comment_id, body, user_id, created, updated in self.rows(sql):
            if issue_id not in numbers or comment_id is None:
                continue
            out[comment_id] = {
                "content": body,
                "created_on": created,
                "id": comment_id,
                "issue": numbers[issue_id],
                "updated_on": updated if updated != created else None,
                "user": self.user(user_id),
            }
        return out

    def changes(self, numbers: dict[str, int], comments: dict[int, dict]) -> list[dict]:
        items: dict[str, list[tuple[str, str | None, str | None]]] = {}
        sql = (
            "SELECT change_id, field, old, new FROM issue_change_items"
            " WHERE repository_id = ? AND deleted_at IS NULL ORDER BY rowid"
        )
        for change_key, field, old, new in self.rows(sql):
            items.setdefault(change_key, []).append((field, old, new))
        sql = (
            "SELECT id, issue_id, change_id, user_id, created_on, message FROM issue_changes"
            " WHERE repository_id = ? AND deleted_at IS NULL ORDER BY created_on, change_id"
        )
        changes = [r for r in self.rows(sql) if r[1] in numbers and r[2] is not None]
        next_id = max([*comments, *(r[2] for r in changes), 0]) + 1
        logs: list[dict] = []
        for key, issue_id, change_id, user_id, created, message in changes:
            number = numbers[issue_id]
            carrier = comments.get(change_id)
            if carrier is not None and not _same_event(
                carrier, number, self.user(user_id), created
            ):
                change_id, next_id = next_id, next_id + 1
                carrier = None
            if carrier is None:
                comments[change_id] = {
                    "content": message or None,
                    "created_on": created,
                    "id": change_id,
                    "issue": number,
                    "updated_on": None,
                    "user": self.user(user_id),
                }
            fields = {f for f, _, _ in items.get(key, [])}
            for field, old, new in items.get(key, []):
                if field == "assignee_account_id":
                    if "assignee" in fields:
                        continue
                    old, new = self.username(old), self.username(new)
                logs.append(
                    {
                        "changed_from": (old or "")[:LOG_VALUE_LIMIT],
                        "changed_to": (new or "")[:LOG_VALUE_LIMIT],
                        "comment": change_id,
                        "created_on": created,
                        "field": LOG_FIELDS.get(field, field),
                        "issue": number,
                        "user": self.user(user_id),
                    }
                )
        return logs

    def attachments(self, numbers: dict[str, int]) -> tuple[list[dict], list[tuple[str, str]]]:
        sql = (
            "SELECT id, issue_id, name, user_id, created_on, json, content IS NULL"
            " FROM issue_attachments WHERE repository_id = ? AND deleted_at IS NULL ORDER BY rowid"
        )
        records, files = [], []
        for row_id, issue_id, name, user_id, created, raw, missing in self.rows(sql):
            if issue_id not in numbers:
                continue
            if missing:
                self.skipped += 1
                continue
            path = "attachments/" + hashlib.md5(row_id.encode()).hexdigest()
            record: dict[str, Any] = {"filename": name, "issue": numbers[issue_id], "path": path}
            url = (json.loads(raw) or {}).get("url") or self.url(numbers[issue_id], name, created)
            if url:
                record["url"] = url
            record["user"] = self.user(user_id)
            records.append(record)
            files.append((path, row_id))
        return records, files

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
