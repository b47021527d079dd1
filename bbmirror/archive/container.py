"""Open an export safely: a zip (checked for bombs before reading) or a bare ``db-*.json``.

Nothing is extracted to disk. Every entry's declared size and compression ratio are checked
before anything is read, and every read streams with a cap, so a lying header cannot make us
hold more than the limit.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bbmirror.archive.model import ArchiveError

MiB = 1024 * 1024
GiB = 1024 * MiB
JSON_NAMES = ("db-2.0.json", "db-1.0.json")  # preferred first (export-format.md §9)
CHUNK = MiB


@dataclass(frozen=True)
class Limits:
    """Zip-bomb guards: total and per-entry sizes, and the largest believable ratio."""

    max_total_bytes: int = 16 * GiB
    max_entry_bytes: int = 4 * GiB
    max_ratio: float = 200.0  # deflated JSON is ~10-30x; a bomb of zeros is ~1000x
    ratio_floor: int = 1 * MiB  # small entries may compress as they like
    max_entries: int = 2_000_000


def check_path(path: str) -> str:
    """An attachment path must stay inside the archive: relative, no ``..``, no drive."""
    if not path or "\\" in path or "\x00" in path or path.startswith("/") or ":" in path:
        raise ArchiveError(f"path {path!r} escapes the archive") from None
    parts = PurePosixPath(path).parts
    if any(part in ("..", ".") for part in parts) or not parts:
        raise ArchiveError(f"path {path!r} escapes the archive") from None
    return path


class Container:
    """Where the JSON and the attachment files of one export live."""

    name: str
    json_names: list[str]  # the db-*.json files present, preferred first

    def read(self, member: str) -> bytes | None:
        raise NotImplementedError

    def has(self, member: str) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying file."""

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ZipContainer(Container):
    def __init__(self, path: Path, limits: Limits) -> None:
        self.name, self.limits = path.name, limits
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError(f"{path.name}: not a zip file ({exc})") from None
        try:
            self.infos = self._check(self.zip.infolist())
        except ArchiveError:
            self.zip.close()
            raise
        self.json_names = [n for n in JSON_NAMES if n in self.infos]
        if not self.json_names:
            self.zip.close()
            raise ArchiveError(
                f"{path.name}: not a Bitbucket issue export (no db-2.0.json or db-1.0.json)"
            )

    def _check(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        """Reject bombs and escaping names from the central directory, before any read."""
        if len(infos) > self.limits.max_entries:
            raise ArchiveError(f"{self.name}: {len(infos)} entries, more than allowed")
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            try:
                check_path(info.filename)
            except ArchiveError:
                raise ArchiveError(
                    f"{self.name}: entry {info.filename!r} escapes the archive"
                ) from None
            size, packed = info.file_size, max(info.compress_size, 1)
            if size > self.limits.max_entry_bytes:
                raise ArchiveError(f"{self.name}: entry {info.filename!r} is too large ({size})")
            if size > self.limits.ratio_floor and size / packed > self.limits.max_ratio:
                raise ArchiveError(
                    f"{self.name}: entry {info.filename!r} expands {size // packed}x "
                    f"({packed} -> {size} bytes): zip bomb"
                )
            total += size
        if total > self.limits.max_total_bytes:
            raise ArchiveError(f"{self.name}: {total} bytes uncompressed, more than allowed")
        return {i.filename: i for i in infos if not i.is_dir()}

    def has(self, member: str) -> bool:
        return member in self.infos

    def read(self, member: str) -> bytes | None:
        info = self.infos.get(member)
        if info is None:
            return None
        cap = min(info.file_size, self.limits.max_entry_bytes)
        chunks, seen = [], 0
        try:
            with self.zip.open(info) as stream:
                while chunk := stream.read(CHUNK):
                    seen += len(chunk)
                    if seen > cap:
                        raise ArchiveError(f"{self.name}: entry {member!r} exceeds its size")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise ArchiveError(f"{self.name}: entry {member!r} cannot be read ({exc})") from None
        return b"".join(chunks)

    def close(self) -> None:
        self.zip.close()


class JsonContainer(Container):
    """A bare ``db-*.json``; attachment paths resolve beside it, never outside."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.name, self.path, self.limits = path.name, path, limits
        self.base = path.resolve().parent
        self.json_names = [path.name]

    def _target(self, member: str) -> Path:
        if member in self.json_names:
            return self.path
        target = (self.base / check_path(member)).resolve()
        if not target.is_relative_to(self.base):  # a symlink pointing out
            raise ArchiveError(f"path {member!r} escapes the archive") from None
        return target

    def has(self, member: str) -> bool:
        return self._target(member).is_file()

    def read(self, member: str) -> bytes | None:
        target = self._target(member)
        if not target.is_file():
            return None
        if target.stat().st_size > self.limits.max_entry_bytes:
            raise ArchiveError(f"{member}: file is too large")
        return target.read_bytes()


def open_container(path: str | Path, limits: Limits | None = None) -> Container:
    """A zip (by content, whatever its name) or a bare JSON file; anything else is an error."""
    path, limits = Path(path), limits or Limits()
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        return ZipContainer(path, limits)
    with path.open("rb") as handle:
        head = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return JsonContainer(path, limits)
    raise ArchiveError(f"{path.name}: not a zip file or a db-*.json export")
