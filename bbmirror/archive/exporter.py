"""Export a mirrored repository's issues as a Bitbucket-compatible export zip.

Works the same whether the rows came from live sync or an archive (export-format.md §9).
Choices where the reference is silent:

- ``db-2.0.json`` is always written. ``db-1.0.json`` is written beside it when some user has no
  account_id (users that came from a 1.0 archive: only the 1.0 file names them as they came,
  by username), when every user has a username (learned from a 2019+ zip's 1.0 file), or
  when the last archive imported was a 1.0 one.
  Both files point at the same attachment entries (Bitbucket's own zips carry a copy per
  file; readers use one file only). No ``.signature``: we cannot compute Bitbucket's.
- Tombstoned rows and deleted comments are left out; see ``document.py`` for the records.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bbmirror.archive.document import Builder, render, users_in
from bbmirror.archive.encoding import dumps
from bbmirror.archive.importer import split_repo
from bbmirror.archive.model import ArchiveError
from bbmirror.store.db import Store


@dataclass
class ExportSummary:
    repository: str
    path: str
    issues: int = 0
    comments: int = 0
    logs: int = 0
    attachments: int = 0  # records written, with or without their bytes
    without_bytes: int = 0  # records whose file the mirror does not hold
    files: tuple[str, ...] = ("db-2.0.json",)

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        text = (
            f"exported {self.repository} to {self.path} ({', '.join(self.files)}): "
            f"{self.issues} issues, {self.comments} comments, {self.logs} logs, "
            f"{self.attachments} attachments"
        )
        if self.without_bytes:
            text += f"; {self.without_bytes} attachment files not in the mirror (records kept)"
        return text


def export_archive(
    db_path: str | Path, repo: str, out_path: str | Path, *, source: str | None = None
) -> ExportSummary:
    """Write ``out_path`` (atomically: a temporary file renamed into place)."""
    split_repo(repo)
    out = Path(out_path)
    with Store.open(db_path, readonly=True) as store:
        repo_id, full_name = _repository(store, repo, source)
        builder = Builder(store, repo_id, full_name)
        document = builder.document()
        formats = ["2.0"]
        named = users_in(document)
        if builder.format == "1.0" or (
            named and (any(w.account_id is None for w in named) or all(w.username for w in named))
        ):
            formats.append("1.0")  # usernames identify these users (§5)
        summary = ExportSummary(
            repository=full_name,
            path=str(out),
            issues=len(document["issues"]),
            comments=len(document["comments"]),
            logs=len(document["logs"]),
            attachments=len(document["attachments"]),
            without_bytes=builder.without_bytes,
            files=tuple(f"db-{fmt}.json" for fmt in formats),
        )
        handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or ".")
        os.close(handle)
        try:
            with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
                for fmt in formats:
                    _put(archive, f"db-{fmt}.json", dumps(render(document, fmt)))
                for path, row_id in builder.files:
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


def _repository(store: Store, repo: str, source: str | None) -> tuple[str, str]:
    sql = (
        "SELECT id, full_name, source FROM repositories WHERE lower(full_name) = lower(?)"
        " AND deleted_at IS NULL ORDER BY id"
    )
    found = [(i, n) for i, n, s in store.conn.execute(sql, (repo,)) if source in (None, s)]
    if not found:
        raise ArchiveError(f"{repo}: no such repository in the mirror")
    return found[0]
