"""Import an issue-export archive into the mirror: one transaction, idempotent, merge-safe.

Rows are built by the Cloud transforms (``flavours/cloud/rows*``) from 2.0-API-shaped objects
(``shapes.py``), so their keys are exactly those live sync writes.
Choices where issue #4 and the reference are silent:

- The source is the mirrored repository's own (matched by ``full_name``), else ``--source``,
  else ``archive``. An unknown repository gets the row ``archive:{source}/{W}/{SLUG}`` (the
  archive has no uuid); a later live sync keys the repository by uuid, and does not merge.
- Users: see ``users.py``.
- Merge: an issue row is written when it is new or the archive's ``updated_on`` is strictly
  newer; comments likewise by their own ``updated_on``; change records (immutable) and their
  items only when missing; attachments when missing or stored without bytes. Nothing is
  deleted or tombstoned: an issue absent from a newer archive stays as it was.
- A comment id already used by another issue's comment (third-party archives number comments
  from 1) is keyed ``{issue key}/comment/{id}`` instead of clobbering that row.
- A repeated field within one change (several files attached at once) gets item ids
  ``{change}/{field}/{n}``; repeated attachment file names ``{issue}/attachment/{name}/{n}``.
- ``meta`` and the archive's format are kept in ``sync_state`` (stream ``issues-archive``, scope
  the repository id, watermark the newest ``updated_on``), written only when they change.
- Milestones, versions and components match mirrored ones by name; new ones are keyed
  ``{repo}/{kind}/name:{name}`` (archives have no ids). Names used by issues but not declared
  stay in ``*_name`` columns without a row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bbmirror import rows
from bbmirror.archive import shapes
from bbmirror.archive.container import Limits
from bbmirror.archive.model import Archive, ArchiveError, ArchiveIssue, UserRef
from bbmirror.archive.read import ArchiveFile, read_archive
from bbmirror.archive.summary import ImportSummary, split_repo
from bbmirror.archive.users import match_users
from bbmirror.flavours.cloud import rows_issues as cloud_issues
from bbmirror.rows import RowError, RowSet
from bbmirror.store.db import Store, SyncState

Progress = Callable[[str, str, int], None]  # (repository, stream, count): as sync's progress
STATE_STREAM = "issues-archive"
DEFAULT_SOURCE = "archive"
CHUNK = 500  # issues per write batch (all inside the one transaction)
LOOKUP = 900  # ids per "IN (...)" query
NAMED = (("milestone", "milestones"), ("version", "versions"), ("component", "components"))


def import_archive(
    db_path: str | Path,
    archive_path: str | Path,
    repo: str,
    *,
    progress: Progress | None = None,
    source: str | None = None,
    limits: Limits | None = None,
) -> ImportSummary:
    """Validate the archive completely, then write it into the mirror in one transaction."""
    workspace, slug = split_repo(repo)
    with read_archive(archive_path, limits) as opened, Store.open(db_path) as store:
        store.acquire_writer_lock()
        with store.transaction():
            try:
                return _Importer(store, opened, workspace, slug, source, progress).run()
            except RowError as exc:
                raise ArchiveError(f"{Path(archive_path).name}: {exc}") from None


def import_opened(
    store: Store, opened: ArchiveFile, repo: str, source: str | None = None
) -> ImportSummary:
    """Write an open archive into ``store`` in the caller's transaction (a sync's export job)."""
    workspace, slug = split_repo(repo)
    try:
        return _Importer(store, opened, workspace, slug, source, None).run()
    except RowError as exc:
        raise ArchiveError(f"{opened.json_name}: {exc}") from None


class _Importer:
    def __init__(
        self,
        store: Store,
        opened: ArchiveFile,
        workspace: str,
        slug: str,
        source: str | None,
        progress: Progress | None,
    ) -> None:
        self.store, self.opened, self.archive = store, opened, opened.archive
        self.full_name = f"{workspace}/{slug}"
        self.workspace, self.slug = workspace, slug
        self.wanted_source, self.progress = source, progress or (lambda *_: None)
        self.user_ids: dict[str, str | None] = {}
        self.user_docs: dict[str, dict[str, Any]] = {}  # user id -> the user as JSON
        self.named: dict[tuple[str, str], str] = {}

    def run(self) -> ImportSummary:
        archive = self.archive
        self.summary = ImportSummary(
            repository=self.full_name,
            source="",
            format=archive.format,
            json_name=self.opened.json_name,
            issues=len(archive.issues),
            comments=len(archive.comments),
            changes=len(archive.changes),
            attachments=len(archive.attachments),
            warnings=list(archive.warnings),
        )
        self.repo_id, self.source = self.repository()
        self.summary.source = self.source
        self.write(self.users_rows())
        self.write(self.named_rows())
        comments, changes, attachments = _by_issue(archive)
        done = 0
        for chunk in _chunks(archive.issues, CHUNK):
            rowset: RowSet = defaultdict(list)
            issue_keys = [rows.issue_key(self.repo_id, i.id) for i in chunk]
            stored = self.lookup("issues", issue_keys, "updated_on")
            for issue, key in zip(chunk, issue_keys, strict=True):
                self.issue_rows(rowset, issue, key, stored)
            self.comment_rows(rowset, [c for i in chunk for c in comments[i.id]])
            self.change_rows(rowset, [c for i in chunk for c in changes[i.id]])
            attached = self.attachment_rows([a for i in chunk for a in attachments[i.id]])
            self.write(rowset)
            self.write(attached, merge=("users", "issue_attachments"))
            done += len(chunk)
            self.progress(self.full_name, "issues", done)
        self.save_state()
        return self.summary

    # -- helpers ---------------------------------------------------------------------------

    def write(self, rowset: RowSet, merge: Iterable[str] = ("users",)) -> None:
        rowset = {t: r for t, r in rowset.items() if r}
        if not rowset:
            return
        for table, count in self.store.write(rowset, merge_tables=merge).items():
            self.summary.rows[table] = self.summary.rows.get(table, 0) + count

    def lookup(self, table: str, ids: list[str], *columns: str) -> dict[str, tuple]:
        """Stored rows (tombstoned too) by id: id -> the requested columns."""
        found: dict[str, tuple] = {}
        cols = ", ".join(("id", *columns))  # trusted names and expressions only
        for part in _chunks(ids, LOOKUP):
            marks = ", ".join("?" for _ in part)
            sql = f"SELECT {cols} FROM [{table}] WHERE [id] IN ({marks})"
            for row in self.store.conn.execute(sql, part):
                found[row[0]] = tuple(row[1:])
        return found

    def repository(self) -> tuple[str, str]:
        """The mirrored repository (and its source), or a new row for an unseen one."""
        sql = (
            "SELECT id, source FROM repositories WHERE lower(full_name) = lower(?)"
            " ORDER BY deleted_at IS NOT NULL, id"
        )
        found = [
            (rid, src)
            for rid, src in self.store.conn.execute(sql, (self.full_name,))
            if self.wanted_source in (None, src)
        ]
        if found:
            return found[0]
        source = self.wanted_source or DEFAULT_SOURCE
        if not self.store.conn.execute("SELECT 1 FROM sources WHERE id = ?", (source,)).fetchone():
            self.store.put_source(source, "archive", None)
        workspace = self.store.conn.execute(
            "SELECT id FROM workspaces WHERE lower(slug) = lower(?) AND source = ?",
            (self.workspace, source),
        ).fetchone()
        key = f"archive:{source}/{self.full_name}"
        doc = {"type": "repository", "full_name": self.full_name, "slug": self.slug}
        row = {
            "id": key,
            "source": source,
            "workspace_id": workspace[0] if workspace else None,
            "slug": self.slug,
            "full_name": self.full_name,
            "name": self.slug,
            "has_issues": 1,
            "json": json.dumps(doc),
        }
        if not self.lookup("repositories", [key]):
            self.write({"repositories": [row]})
        return key, source

    # -- users and names -------------------------------------------------------------------

    def users_rows(self) -> RowSet:
        self.user_ids, self.user_docs, new = match_users(
            self.store.conn, self.archive.users.values(), self.source
        )
        return {"users": new}

    def user(self, ref: UserRef | None) -> str | None:
        return self.user_ids.get(ref.key) if ref else None

    def user_doc(self, ref: UserRef | None) -> dict[str, Any] | None:
        """The mirrored user's identity, so 1.0 and 2.0 archives give the same JSON."""
        uid = self.user(ref)
        return self.user_docs.get(uid) if uid else None

    def named_rows(self) -> RowSet:
        rowset: RowSet = {}
        for kind, table in NAMED:
            sql = (
                f"SELECT id, name FROM [{table}] WHERE repository_id = ?"
                " ORDER BY deleted_at IS NULL"  # live rows come last and win
            )
            for key, name in self.store.conn.execute(sql, (self.repo_id,)):
                self.named[(kind, name)] = key
            for name in getattr(self.archive, table):
                if (kind, name) in self.named:
                    continue
                key = rows.named_key(self.repo_id, kind, f"name:{name}")
                self.named[(kind, name)] = key
                rowset.setdefault(table, []).append(
                    {
                        "id": key,
                        "source": self.source,
                        "repository_id": self.repo_id,
                        "api_id": None,
                        "name": name,
                        "json": rows.dumps({"type": kind, "name": name}),
                    }
                )
        return rowset

    # -- records ---------------------------------------------------------------------------

    def issue_rows(
        self, rowset: RowSet, issue: ArchiveIssue, key: str, stored: dict[str, tuple]
    ) -> None:
        if key in stored and not _newer(issue.updated_on, stored[key][0]):
            self.summary.kept_newer += stored[key][0] != issue.updated_on
            return
        obj = shapes.issue(issue, self.user_doc)
        (row,) = cloud_issues.issue(
            obj, source=self.source, repository_id=self.repo_id, origin="archive"
        )["issues"]
        row["reporter_id"] = self.user(issue.reporter)
        row["assignee_id"] = self.user(issue.assignee)
        for kind, _ in NAMED:
            name = getattr(issue, kind)
            row[f"{kind}_id"] = self.named.get((kind, name)) if name is not None else None
        rowset["issues"].append(row)

    def comment_rows(self, rowset: RowSet, comments: list) -> None:
        keys = [rows.comment_key(self.source, c.id) for c in comments]
        stored = self.lookup("comments", keys, "issue_id", "updated_on")
        for comment, key in zip(comments, keys, strict=True):
            issue_id = rows.issue_key(self.repo_id, comment.issue)
            if key in stored and stored[key][0] != issue_id:  # a foreign comment owns the id
                key = f"{issue_id}/comment/{comment.id}"
                stored.update(self.lookup("comments", [key], "issue_id", "updated_on"))
            obj = shapes.comment(comment, self.user_doc)
            if key in stored and not _newer(obj["updated_on"], stored[key][1]):
                continue
            (row,) = cloud_issues.issue_comment(
                obj, source=self.source, repository_id=self.repo_id, issue_id=issue_id
            )["comments"]
            row["id"] = key
            row["user_id"] = self.user(comment.user)
            rowset["comments"].append(row)

    def change_rows(self, rowset: RowSet, changes: list) -> None:
        keys = [f"{rows.issue_key(self.repo_id, c.issue)}/change/{c.id}" for c in changes]
        stored = self.lookup("issue_changes", keys)
        for change, key in zip(changes, keys, strict=True):
            if key in stored:
                continue  # change records are immutable: keep what is there
            issue_id = rows.issue_key(self.repo_id, change.issue)
            made = cloud_issues.issue_change(
                shapes.change(change, self.user_doc),
                source=self.source,
                repository_id=self.repo_id,
                issue_id=issue_id,
            )
            user_id = self.user(change.user)
            (head,) = made["issue_changes"]
            head["user_id"] = user_id
            rowset["issue_changes"].append(head)
            items = {row["field"]: row for row in made.get("issue_change_items", [])}
            seen: dict[str, int] = defaultdict(int)
            for item in change.items:
                first = items[item.field]
                n = seen[item.field]
                seen[item.field] += 1
                row = dict(first)
                if n:
                    row["id"] = f"{first['id']}/{n}"
                row.update(user_id=user_id, old=item.old, new=item.new)
                row["created_on"] = item.created_on or head["created_on"]  # the log's own
                row["json"] = rows.dumps(shapes.item(item))
                rowset["issue_change_items"].append(row)

    def attachment_rows(self, attachments: list) -> RowSet:
        keyed = []
        seen: dict[tuple[int, str], int] = defaultdict(int)
        for attachment in attachments:
            issue_id = rows.issue_key(self.repo_id, attachment.issue)
            n = seen[(attachment.issue, attachment.filename)]
            seen[(attachment.issue, attachment.filename)] += 1
            key = f"{issue_id}/attachment/{attachment.filename}" + (f"/{n}" if n else "")
            keyed.append((attachment, issue_id, key))
        stored = self.lookup("issue_attachments", [k for *_, k in keyed], "content IS NULL")
        out: list[dict[str, Any]] = []
        for attachment, issue_id, key in keyed:
            if key in stored and not stored[key][0]:
                continue  # already there with its bytes
            content = self.opened.content(attachment)
            (row,) = cloud_issues.issue_attachment(
                shapes.attachment(attachment, self.user_doc),
                source=self.source,
                repository_id=self.repo_id,
                issue_id=issue_id,
                content=content,
            )["issue_attachments"]
            row.update(
                id=key,
                user_id=self.user(attachment.user),
                created_on=attachment.uploaded_on,
            )
            out.append(row)
        return {"issue_attachments": out}

    def save_state(self) -> None:
        meta = dict(self.archive.meta)
        ref = meta.get("default_assignee")
        meta["default_assignee"] = self.user_doc(ref) or shapes.user(ref)
        extra = {
            "meta": meta,
            "format": self.archive.format,
            "milestones": self.archive.milestones,
            "versions": self.archive.versions,
            "components": self.archive.components,
        }
        newest = max((i.updated_on for i in self.archive.issues if i.updated_on), default=None)
        state = self.store.get_state(self.source, self.repo_id, STATE_STREAM)
        if state and state.watermark and newest and state.watermark > newest:
            return  # an older archive does not replace what a newer one recorded
        if state and (state.watermark, state.extra) == (newest, json.loads(json.dumps(extra))):
            return
        self.store.put_state(
            SyncState(self.source, self.repo_id, STATE_STREAM, watermark=newest, extra=extra)
        )


def _newer(incoming: str | None, stored: str | None) -> bool:
    """The archive wins only when strictly newer (ties keep the stored, maybe live, row)."""
    return incoming is not None and (stored is None or incoming > stored)


def _by_issue(archive: Archive) -> tuple[dict, dict, dict]:
    comments, changes, attachments = defaultdict(list), defaultdict(list), defaultdict(list)
    for comment in archive.comments:
        comments[comment.issue].append(comment)
    for change in archive.changes:
        changes[change.issue].append(change)
    for attachment in archive.attachments:
        attachments[attachment.issue].append(attachment)
    return comments, changes, attachments


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
