"""What an import did, and the ``--repo`` argument both commands take."""

from __future__ import annotations

from dataclasses import dataclass, field

from bbmirror.archive.model import ArchiveError


@dataclass
class ImportSummary:
    """What an import read and what it changed in the mirror."""

    repository: str
    source: str
    format: str
    json_name: str
    issues: int = 0
    comments: int = 0
    changes: int = 0
    attachments: int = 0
    kept_newer: int = 0  # issues whose mirrored row was newer than the archive's
    rows: dict[str, int] = field(default_factory=dict)  # rows inserted or changed, per table
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(self.rows.values())

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        text = (
            f"imported {self.repository} from {self.json_name} ({self.format}): "
            f"{self.issues} issues, {self.comments} comments, {self.changes} changes, "
            f"{self.attachments} attachments; {self.changed} rows changed"
        )
        if self.kept_newer:
            text += f"; {self.kept_newer} issues kept (mirror newer)"
        if self.warnings:
            text += f"; {len(self.warnings)} warnings"
        return text


def split_repo(repo: str) -> tuple[str, str]:
    """``WORKSPACE/SLUG`` -> (workspace, slug), or a one-line error."""
    workspace, _, slug = repo.strip().partition("/")
    if not workspace or not slug or "/" in slug:
        raise ArchiveError(f"--repo must be WORKSPACE/SLUG, not {repo!r}")
    return workspace, slug
