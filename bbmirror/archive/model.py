"""The normalised archive: the same plain records whether the file was db-1.0 or db-2.0."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ArchiveError(ValueError):
    """A bad archive; the message is one line naming the problem and the record."""


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user as an archive knows them: 2.0 gives account_id + name, 1.0 a username."""

    account_id: str | None = None
    username: str | None = None
    display_name: str | None = None
    uuid: str | None = None

    @property
    def key(self) -> str:
        """What identifies this user within one archive (account_id beats username)."""
        return self.uuid or self.account_id or self.username or self.display_name or ""


@dataclass(slots=True)
class ArchiveIssue:
    id: int
    title: str
    content: str | None = None
    reporter: UserRef | None = None
    assignee: UserRef | None = None
    kind: str | None = None
    priority: str | None = None
    state: str | None = None
    component: str | None = None
    milestone: str | None = None
    version: str | None = None
    created_on: str | None = None
    updated_on: str | None = None
    edited_on: str | None = None
    content_updated_on: str | None = None
    watchers: list[UserRef] = field(default_factory=list)
    voters: list[UserRef] = field(default_factory=list)


@dataclass(slots=True)
class ArchiveComment:
    """A comment that carries no logs (comments carrying logs become ArchiveChange)."""

    id: int
    issue: int
    user: UserRef | None
    content: str | None
    created_on: str | None
    updated_on: str | None


@dataclass(slots=True)
class ChangeItem:
    """One changed field, named as the 2.0 API names it (``state``, ``assignee``…)."""

    field: str
    old: str | None
    new: str | None
    created_on: str | None = None  # the log's own time, a little after its carrier's (§4.4)
    raw: dict[str, Any] = field(default_factory=dict)  # log values the normalisation changed


@dataclass(slots=True)
class ArchiveChange:
    """One change event: the logs grouped by the comment that carries them (§4.4)."""

    id: int  # the carrier comment's id, as the 2.0 API shares change and comment ids
    issue: int
    user: UserRef | None
    created_on: str | None
    message: str | None
    items: list[ChangeItem] = field(default_factory=list)  # file order = ordinal
    updated_on: str | None = None  # the carrier comment's, when it was edited
    carrier: bool = True  # False: the logs point at no comment record of the file


@dataclass(slots=True)
class ArchiveAttachment:
    path: str  # the zip entry name (validated: no ``..``, not absolute)
    issue: int
    filename: str
    user: UserRef | None = None
    url: str | None = None
    uploaded_on: str | None = None  # from the url epoch or the attachment log


@dataclass
class Archive:
    """Everything one export file holds, validated, with ids unique and times in UTC."""

    format: str  # "2.0" | "1.0" | "1.0-api"
    issues: list[ArchiveIssue] = field(default_factory=list)  # sorted by id
    comments: list[ArchiveComment] = field(default_factory=list)  # sorted by id
    changes: list[ArchiveChange] = field(default_factory=list)  # sorted by (issue, id)
    attachments: list[ArchiveAttachment] = field(default_factory=list)  # file order
    milestones: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    users: dict[str, UserRef] = field(default_factory=dict)  # by UserRef.key
    warnings: list[str] = field(default_factory=list)
