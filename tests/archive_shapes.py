"""Export archives shaped like real Bitbucket ones (export-format.md §1-§6), built by code.

Each builder returns the zip's members as ``{name: bytes}``. The shapes follow the public
exports the reference was checked against (see tests/fixtures/archives/README.md); no text is
copied from them. Timestamps are Bitbucket's ``…ffffff+00:00`` form, so a faithful round trip
can be compared byte for byte after parsing.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from bbmirror.archive.encoding import dumps

T0 = datetime(2014, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
ISSUE_TABLES = (  # what an archive import writes, besides users, repositories and sync state
    "issues",
    "comments",
    "issue_changes",
    "issue_change_items",
    "issue_attachments",
    "milestones",
    "versions",
    "components",
)
META = {
    "default_assignee": None,
    "default_component": None,
    "default_kind": "bug",
    "default_milestone": None,
    "default_version": None,
}


def ts(seconds: float) -> str:
    """A Bitbucket timestamp ``seconds`` after T0."""
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def path_for(*parts: object) -> str:
    """An ``attachments/<32 hex>`` entry name, as Bitbucket-made zips have (§1)."""
    return "attachments/" + hashlib.md5(repr(parts).encode()).hexdigest()


class Shape:
    """One archive's records with users as slots: rendered as db-1.0 or db-2.0 (§5)."""

    def __init__(self, users: dict[str, tuple[str | None, str | None]]) -> None:
        self.users = users  # slot -> (username, (display_name, account_id) as "name|id")
        self.issues: list[dict] = []
        self.comments: list[dict] = []
        self.logs: list[dict] = []
        self.attachments: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.missing: set[str] = set()  # attachment paths whose bytes are not in the zip
        self.meta: dict[str, Any] | None = dict(META)
        self.names = {"milestones": [], "versions": [], "components": []}

    def user(self, slot: str | None, fmt: str) -> Any:
        if slot is None:
            return None
        username, pair = self.users[slot]
        if fmt == "1.0":
            return username
        name, account_id = (pair or "|").split("|")
        return {"display_name": name, "account_id": account_id}

    def path(self, path: str, fmt: str) -> str:
        """Each JSON of a zip points at its own copy of every file (§1)."""
        return path if fmt == "2.0" else path_for(path, fmt)

    def render(self, fmt: str, *, url: bool) -> dict[str, Any]:
        """The JSON document; user slots become usernames (1.0) or objects (2.0)."""

        def users(record: dict) -> dict:
            out = dict(record)
            for key in ("reporter", "assignee", "user"):
                if key in out:
                    out[key] = self.user(out[key], fmt)
            for key in ("watchers", "voters"):
                if key in out:
                    out[key] = [self.user(u, fmt) for u in out[key]]
            return out

        attachments = []
        for record in self.attachments:
            record = users(record)
            record["path"] = self.path(record["path"], fmt)
            if not url:
                record.pop("url", None)
            attachments.append(record)
        document: dict[str, Any] = {
            "milestones": [{"name": n} for n in self.names["milestones"]],
            "attachments": attachments,
            "versions": [{"name": n} for n in self.names["versions"]],
            "comments": [users(c) for c in self.comments],
            "meta": self.meta,
            "components": [{"name": n} for n in self.names["components"]],
            "issues": [users(i) for i in self.issues],
            "logs": [users(log) for log in self.logs],
        }
        if self.meta is None:
            del document["meta"]
        return document

    def zip(self, *formats: str, signature: bytes = b"") -> bytes:
        """A Bitbucket-style zip: JSON file(s), ``.signature``, attachment files (§1)."""
        members: dict[str, bytes] = {".signature": signature} if signature else {}
        for fmt in formats:
            members[f"db-{fmt}.json"] = dumps(self.render(fmt, url=len(formats) == 2))
        for fmt in formats:
            for path, data in self.files.items():
                if path not in self.missing:
                    members[self.path(path, fmt)] = data
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    # -- builders -------------------------------------------------------------------------

    def issue(self, number: int, at: float, **fields: Any) -> dict:
        record = {
            "assignee": None,
            "component": None,
            "content": f"Body of #{number}\r\n",
            "content_updated_on": None,
            "created_on": ts(at),
            "edited_on": None,
            "id": number,
            "kind": "bug",
            "milestone": None,
            "priority": "major",
            "reporter": None,
            "status": "new",
            "title": f"Issue {number}",
            "updated_on": ts(at + 3600),
            "version": None,
            "voters": [],
            "watchers": [],
        }
        record.update(fields)
        self.issues.append(record)
        return record

    def comment(self, cid: int, issue: int, user: str | None, at: float, **fields: Any) -> dict:
        record = {
            "content": None,
            "created_on": ts(at),
            "id": cid,
            "issue": issue,
            "updated_on": None,
            "user": user,
        }
        record.update(fields)
        self.comments.append(record)
        return record

    def log(self, carrier: dict, field: str, old: str, new: str, delay: float) -> dict:
        """A log on ``carrier``: its own time, ``delay`` seconds after the comment's (§4.4)."""
        at = datetime.fromisoformat(carrier["created_on"]) + timedelta(seconds=delay)
        record = {
            "changed_from": old,
            "changed_to": new,
            "comment": carrier["id"],
            "created_on": at.isoformat(timespec="microseconds"),
            "field": field,
            "issue": carrier["issue"],
            "user": carrier["user"],
        }
        self.logs.append(record)
        return record

    def attach(self, issue: int, name: str, data: bytes, user: str | None, epoch: float) -> str:
        path = path_for(issue, name, data)
        self.files[path] = data
        self.attachments.append(
            {
                "filename": name,
                "issue": issue,
                "path": path,
                "url": f"https://bitbucket.org/acme/widget/issues/attachments/{issue}/acme/"
                f"widget/{epoch:.2f}/{issue}/{name.replace(' ', '%20')}",
                "user": user,
            }
        )
        return path


USERS = {
    "ana": ("anaruiz", "Ana Ruiz|557058:0f3c2b1a-1111-2222-3333-444455556666"),
    "bob": ("dichlofos", "Mikhail Veltishchev|557058:1b6071a5-aaaa-bbbb-cccc-ddddeeeeffff"),
    "den": ("dendik", "dendik NA|5a7f63994956f22f15456cec"),  # legacy 24-hex account_id
}


def history(shape: Shape, *, none: str, lose_first_twin: bool = False) -> None:
    """Issues with change history like gdc/renderer: logs a few ms to 17.5 s after their
    carrier, several logs on one carrier, edited carriers, ``none`` for "no value"."""
    shape.names = {
        "milestones": ["2013-03-05", "M2"],
        "versions": ["1.11.0", "1.12.1"],
        "components": ["Repository", "Web Frontend"],
    }
    shape.issue(1, 0, reporter="ana", status="resolved", milestone="2013-03-05", watchers=["ana"])
    shape.issue(
        3,
        50,
        reporter=None,
        assignee="bob",
        kind="enhancement",
        status="on hold",
        component="Repository",
        version="1.12.1",
        edited_on=ts(70),
        content="Привет \u0001 \ufffd",
        watchers=["bob", "den"],
        voters=["ana"],
    )
    shape.issue(2, 10, reporter="den", content="", priority="trivial", status="open")
    shape.issue(5, 20, reporter="ana", status="closed", kind="task")  # 4 was spam: a gap (§1)
    shape.comment(36622697, 1, "bob", 100, content="Can reproduce.")
    shape.comment(36622698, 1, "ana", 200, content="Edited", updated_on=ts(260))
    shape.comment(36622699, 3, None, 300, content="anonymous remark")
    fixed = shape.comment(36622700, 1, "ana", 400, content="Fixed.\n\n→ <<cset 580da529e681>>")
    shape.log(fixed, "status", "new", "resolved", 0.004)
    shape.log(fixed, "responsible", none, "dichlofos", 0.0051)
    quiet = shape.comment(36622701, 3, "bob", 500)  # a null-content carrier
    shape.log(quiet, "milestone", none, "M2", 17.5)
    edited = shape.comment(36622702, 3, "bob", 600, updated_on=ts(605.25))
    shape.log(edited, "responsible", "dichlofos", none, -0.0002)
    shape.log(edited, "title", "Issue", "Issue 3", 0.001)
    shape.log(edited, "kind", "bug", "enhancement", 0.002)
    shape.log(edited, "status", "new", "on hold", 0.003)
    files = shape.comment(36622703, 2, "den", 700)
    twin_a = b"first upload\n"
    twin_b = b"second upload, same name\n" * 3
    first = shape.attach(2, "trace.log", twin_a, "den", 1399360000.5)
    if lose_first_twin:
        shape.missing.add(first)
    shape.log(files, "attachment", "", "trace.log", 0.01)
    shape.attach(2, "trace.log", twin_b, "den", 1399360001.25)
    shape.log(files, "attachment", "", "trace.log", 0.02)
    lost = shape.attach(3, "Screen Shot 2013-01-13 at 20.28.21 .png", bytes(range(256)), None, 1.0)
    shape.missing.add(lost)
    shape.attach(1, "patch.diff", b"--- a\n+++ b\n", "ana", 1399361000.0)


def gdc_like() -> bytes:
    """A 2014 export: db-1.0.json only, no urls, ``"None"`` values, usernames (§1, §4.4)."""
    shape = Shape(USERS)
    history(shape, none="None")
    return shape.zip("1.0", signature=b"27J1F0VH2P:" + b"d" * 40)


def quest_like(*, lose_first_twin: bool = False) -> bytes:
    """A 2020 export: both files, urls, ``""`` values, responsible logs as usernames (§5)."""
    shape = Shape(USERS)
    history(shape, none="", lose_first_twin=lose_first_twin)
    return shape.zip("1.0", "2.0", signature=b"a" * 40)


def no_meta() -> bytes:
    """A third-party 2.0 file without ``meta`` (BB2Jira sample, §3), all else as Bitbucket."""
    shape = Shape(USERS)
    history(shape, none="")
    shape.meta = None
    return shape.zip("2.0")


ARCHIVES = {"gdc-2014": gdc_like, "quest-2020": quest_like, "no-meta": no_meta}


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def canonical(document: dict[str, Any]) -> dict[str, Any]:
    """A document with record order set aside (real exports are not sorted, §2)."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, list):
            value = sorted(json.dumps(v, sort_keys=True, ensure_ascii=False) for v in value)
        out[key] = value
    return out
