"""Bitbucket issue-export archives (db-1.0 / db-2.0 zips): read, import into the mirror, export.

The CLI calls ``import_archive`` and ``export_archive``; both raise ``ArchiveError`` (one line)
for bad input, and the store's ``StoreError`` for an unusable database.
"""

from bbmirror.archive.container import Limits
from bbmirror.archive.exporter import ExportSummary, export_archive
from bbmirror.archive.importer import ImportSummary, Progress, import_archive
from bbmirror.archive.model import Archive, ArchiveError
from bbmirror.archive.read import ArchiveFile, read_archive

__all__ = [
    "Archive",
    "ArchiveError",
    "ArchiveFile",
    "ExportSummary",
    "ImportSummary",
    "Limits",
    "Progress",
    "export_archive",
    "import_archive",
    "read_archive",
]
