"""Bitbucket issue-export zips of a simulated repository, shaped like real exports.

Follows reference/export-format.md §1-§5. Choices where real exports leave room (documented in
docs/simulator.md, "Issue export zips"):

- Each ``IssueChange`` becomes one carrier comment (id = the change id, content = the change
  message or null) plus one log per changed field. A change id that collides with a real
  comment id of the same repository is renumbered above the largest id in the export.
- Record keys are alphabetical (as in Atlassian's own example); the top-level key order is the
  one every real export uses; records are shuffled deterministically (seeded by repo uuid).
- ``fmt="1.0"`` alone is a pre-2019 export (no attachment ``url``); ``both=True`` is a 2019+
  export with both files, each with its own copy of every attachment.
- Deleted comments are not exported; ``voters`` is ``[]`` (the world keeps only a vote count);
  ``content_updated_on`` and ``edited_on`` both carry ``Issue.edited_on``; a comment's
  ``updated_on`` is null unless it differs from ``created_on``.
- As in real exports (§4.4), each log has its own ``created_on``: a few milliseconds after its
  carrier comment's, one log in ten up to 17.5 s after, one in twenty 0.2 ms before (seeded by
  the change). A carrier with a message was edited one time in three (``updated_on`` set).
- Switches for what older or damaged exports look like: ``none_value="None"`` writes "no
  value" as the 2013-2014 exports did; ``missing_files`` (0.0-1.0) leaves that share of the
  attachment files out of the zip while keeping their records, as archives committed without
  their ``attachments/`` folder do.
"""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from bbmirror.archive.encoding import LOG_VALUE_LIMIT, TOP_LEVEL_KEYS, dumps
from bbmirror.simulator.cloud.world import Issue, IssueChange, Repository, User, World

FIELD_TO_LOG = {"state": "status", "assignee": "responsible"}
FORMATS = ("1.0", "2.0")
NONE_VALUES = ("", "None")  # how exports write "no value" in logs (§4.4 rule 2)


def export_json(
    world: World, repo: Repository, fmt: str = "2.0", *, none_value: str = ""
) -> dict[str, Any]:
    """The ``db-<fmt>.json`` object for ``repo`` (a pre-2019 file when ``fmt`` is 1.0)."""
    return _Exporter(world, repo, fmt, with_url=fmt == "2.0", none_value=none_value).document()


def export_zip(
    world: World,
    repo: Repository,
    *,
    fmt: str = "2.0",
    both: bool = False,
    none_value: str = "",
    missing_files: float = 0.0,
) -> bytes:
    """A complete export zip: ``.signature``, the JSON file(s) and ``attachments/<hex>``."""
    fmts = FORMATS if both else (fmt,)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if none_value not in NONE_VALUES:
        raise ValueError(f"none_value must be one of {NONE_VALUES}, not {none_value!r}")
    stamp = datetime.fromisoformat(world.clock).timetuple()[:6]
    entries: list[tuple[str, bytes]] = []
    lose = random.Random(f"{repo.uuid}|missing")
    for one in fmts:
        exporter = _Exporter(world, repo, one, with_url=both or one == "2.0", none_value=none_value)
        entries.append((f"db-{one}.json", dumps(exporter.document())))
        entries.extend(e for e in exporter.files.items() if lose.random() >= missing_files)
    signature = hashlib.sha1(b"".join(data for _, data in entries)).hexdigest().encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(".signature", signature), *entries]:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100600 << 16  # a regular file, mode 0600 (§1)
            archive.writestr(info, data)
    return buffer.getvalue()


class _Exporter:
    """Builds one JSON document and the attachment files it points at."""

    def __init__(
        self, world: World, repo: Repository, fmt: str, *, with_url: bool, none_value: str = ""
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        self.world, self.repo, self.fmt, self.with_url = world, repo, fmt, with_url
        self.none_value = none_value
        self.by_account = {u.account_id: u for u in world.users.values()}
        self.files: dict[str, bytes] = {}

    def document(self) -> dict[str, Any]:
        issues = sorted(self.repo.issues.values(), key=lambda i: i.id)
        comments: list[dict] = []
        logs: list[dict] = []
        attachments: list[dict] = []
        used = {c.id for i in issues for c in i.comments}  # deleted ones too: live rows keep them
        next_id = max(used | {c.id for i in issues for c in i.changes}, default=0) + 1
        for issue in issues:
            comments.extend(self.comment(issue, c) for c in issue.comments if not c.deleted)
            for change in issue.changes:
                carrier = change.id
                if carrier in used:
                    carrier, next_id = next_id, next_id + 1
                used.add(carrier)
                made = self.logs(issue, change, carrier)
                comments.append(self.carrier(issue, change, carrier, made))
                logs.extend(made)
            attachments.extend(self.attachment(issue, n) for n in range(len(issue.attachments)))
        shuffle = random.Random(self.repo.uuid)
        records = {
            "issues": [self.issue(i) for i in issues],
            "comments": comments,
            "logs": logs,
            "attachments": attachments,
        }
        for values in records.values():
            shuffle.shuffle(values)
        document = {
            "milestones": _names(self.repo.milestones),
            "attachments": records["attachments"],
            "versions": _names(self.repo.versions),
            "comments": records["comments"],
            "meta": {
                "default_assignee": None,
                "default_component": None,
                "default_kind": "bug",
                "default_milestone": None,
                "default_version": None,
            },
            "components": _names(self.repo.components),
            "issues": records["issues"],
            "logs": records["logs"],
        }
        assert tuple(document) == TOP_LEVEL_KEYS
        return document

    def user(self, uuid: str | None) -> Any:
        """A user value: a username in 1.0, ``{display_name, account_id}`` in 2.0 (§4.1)."""
        user = self.world.user(uuid)
        if user is None:
            return None
        if self.fmt == "1.0":
            return user.nickname
        return {"display_name": user.display_name, "account_id": user.account_id}

    def issue(self, issue: Issue) -> dict[str, Any]:
        return {
            "assignee": self.user(issue.assignee_uuid),
            "component": _name(self.repo.components, issue.component_id),
            "content": issue.content,
            "content_updated_on": issue.edited_on,
            "created_on": issue.created_on,
            "edited_on": issue.edited_on,
            "id": issue.id,
            "kind": issue.kind,
            "milestone": _name(self.repo.milestones, issue.milestone_id),
            "priority": issue.priority,
            "reporter": self.user(issue.reporter_uuid),
            "status": issue.state,
            "title": issue.title,
            "updated_on": issue.updated_on,
            "version": _name(self.repo.versions, issue.version_id),
            "voters": [],
            "watchers": [self.user(u) for u in issue.watcher_uuids if self.world.user(u)],
        }

    def comment(self, issue: Issue, comment: Any) -> dict[str, Any]:
        edited = comment.updated_on if comment.updated_on != comment.created_on else None
        return {
            "content": comment.content,
            "created_on": comment.created_on,
            "id": comment.id,
            "issue": issue.id,
            "updated_on": edited,
            "user": self.user(comment.user_uuid),
        }

    def carrier(
        self, issue: Issue, change: IssueChange, comment_id: int, logs: list[dict]
    ) -> dict[str, Any]:
        """The comment a change event hangs on: null content unless the change had a message."""
        edited = None
        if change.message and random.Random(f"{self.repo.uuid}|{change.id}|edit").random() < 1 / 3:
            edited = max([change.created_on, *(log["created_on"] for log in logs)])
            edited = _later(edited, 1 + change.id % 600)
        return {
            "content": change.message or None,
            "created_on": change.created_on,
            "id": comment_id,
            "issue": issue.id,
            "updated_on": edited,
            "user": self.user(change.user_uuid),
        }

    def logs(self, issue: Issue, change: IssueChange, comment_id: int) -> list[dict[str, Any]]:
        out = []
        delays = random.Random(f"{self.repo.uuid}|{change.id}|logs")
        for field, values in change.changes.items():
            if field == "assignee_account_id":
                if "assignee" in change.changes:
                    continue  # the username form already gives the responsible log
                values = {k: self.username(v) for k, v in values.items()}
                field = "assignee"
            out.append(
                {
                    "changed_from": self.log_value(values.get("old")),
                    "changed_to": self.log_value(values.get("new")),
                    "comment": comment_id,
                    "created_on": _later(change.created_on, _log_delay(delays)),
                    "field": FIELD_TO_LOG.get(field, field),
                    "issue": issue.id,
                    "user": self.user(change.user_uuid),
                }
            )
        return out

    def log_value(self, value: str | None) -> str:
        """A log value: cut at 254, "no value" as this export writes it (§4.4 rules 2-3)."""
        return _log_value(value) or self.none_value

    def username(self, account_id: str | None) -> str:
        """``responsible`` logs hold usernames even in 2.0 (§4.4 rule 1)."""
        user: User | None = self.by_account.get(account_id or "")
        return user.nickname if user else (account_id or "")

    def attachment(self, issue: Issue, index: int) -> dict[str, Any]:
        attachment = issue.attachments[index]
        seed = f"{self.repo.uuid}|{issue.id}|{index}|{attachment.name}|{self.fmt}"
        path = "attachments/" + hashlib.md5(seed.encode()).hexdigest()
        self.files[path] = attachment.content
        record: dict[str, Any] = {
            "filename": attachment.name,
            "issue": issue.id,
            "path": path,
        }
        if self.with_url:
            record["url"] = self.url(issue, attachment.name, attachment.created_on)
        record["user"] = None  # the world does not know who uploaded (nor does the 2.0 API)
        return record

    def url(self, issue: Issue, name: str, created_on: str) -> str:
        """``…/issues/attachments/{issue}/{ws}/{repo}/{epoch.frac}/{issue}/{name}`` (§4.5)."""
        epoch = f"{datetime.fromisoformat(created_on).timestamp():.2f}"
        full = self.repo.full_name
        return (
            f"https://bitbucket.org/{full}/issues/attachments/{issue.id}/{full}/{epoch}/"
            f"{issue.id}/{quote(name)}"
        )


def _names(named: dict[int, Any]) -> list[dict[str, str]]:
    return [{"name": n.name} for n in sorted(named.values(), key=lambda n: n.id)]


def _name(named: dict[int, Any], key: int | None) -> str | None:
    found = named.get(key) if key is not None else None
    return found.name if found else None


def _log_value(value: str | None) -> str:
    return (value or "")[:LOG_VALUE_LIMIT]


def _log_delay(rng: random.Random) -> float:
    """Seconds from a carrier comment to one of its logs: −0.2 ms to +17.5 s, mostly ms (§4.4)."""
    roll = rng.random()
    if roll < 0.05:
        return -0.0002
    if roll < 0.15:
        return rng.uniform(0.02, 17.5)
    return rng.uniform(0.0005, 0.02)


def _later(stamp: str, seconds: float) -> str:
    moment = datetime.fromisoformat(stamp) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="microseconds")
