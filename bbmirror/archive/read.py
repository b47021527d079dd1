"""Read an export file into a validated ``Archive`` whose attachment bytes load on demand."""

from __future__ import annotations

from pathlib import Path

from bbmirror.archive.container import Container, Limits, open_container
from bbmirror.archive.model import Archive, ArchiveAttachment
from bbmirror.archive.parse import loads, parse_document
from bbmirror.archive.usernames import prefer_10, username_map, username_slots


class ArchiveFile:
    """An open export: the normalised records, plus the container for attachment bytes."""

    def __init__(self, archive: Archive, container: Container, json_name: str) -> None:
        self.archive, self.container, self.json_name = archive, container, json_name

    def content(self, attachment: ArchiveAttachment) -> bytes | None:
        """The attachment's bytes (streamed with a cap), or None if the file is missing."""
        return self.container.read(attachment.path)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> ArchiveFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_archive(path: str | Path, limits: Limits | None = None) -> ArchiveFile:
    """Open and validate an export: prefer db-2.0.json, use db-1.0.json for usernames.

    The 1.0 file is read instead when it says more, or the same (see ``prefer_10``).
    """
    container = open_container(path, limits)
    try:
        json_name = container.json_names[0]
        names: dict[tuple, str] = {}
        document = loads(_read(container, json_name), json_name)
        if json_name == "db-2.0.json" and "db-1.0.json" in container.json_names:
            doc_10 = loads(_read(container, "db-1.0.json"), "db-1.0.json")
            if prefer_10(document, doc_10):
                json_name, document = "db-1.0.json", doc_10
            else:
                names = username_slots(doc_10)
            del doc_10
        usernames = username_map(names, document) if names else {}
        archive = parse_document(document, json_name, usernames)
        del document
        for attachment in archive.attachments:
            if not container.has(attachment.path):
                archive.warnings.append(
                    f"attachment {attachment.path!r} (issue #{attachment.issue}): "
                    "file missing from the archive"
                )
    except BaseException:
        container.close()
        raise
    return ArchiveFile(archive, container, json_name)


def _read(container: Container, member: str) -> bytes:
    data = container.read(member)
    assert data is not None, member  # json_names lists only members that exist
    return data
