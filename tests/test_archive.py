"""Issue-export archives: reading, validating and normalising db-1.0 / db-2.0 (issue #4)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from archive_shapes import ISSUE_TABLES
from test_sim_export import LONG_TITLE, make_world, t

from bbmirror import rows
from bbmirror.archive import ArchiveError, Limits, export_archive, import_archive, read_archive
from bbmirror.archive.encoding import dumps
from bbmirror.archive.model import UserRef
from bbmirror.archive.parse import parse_document
from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.flavours.cloud import rows_issues as cloud_issues
from bbmirror.simulator.cloud import render, render_issues
from bbmirror.simulator.cloud.export import export_json, export_zip
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.world import Comment, IssueChange, Repository, World
from bbmirror.store.db import Store

SEED_10 = {  # the old 1.0 API shape (seed 001), as a bare JSON list response
    "count": 1,
    "filter": {},
    "search": None,
    "issues": [
        {
            "status": "resolved",
            "title": "No Fantom programming language",
            "reported_by": {"username": "ystrot", "first_name": "Yuri", "last_name": "Strot"},
            "responsible": {"username": "evzijst", "first_name": "Erik", "last_name": "van Zijst"},
            "comment_count": 3,
            "content": "There are more than 30 projects\r\n\r\nCould you please add it?",
            "created_on": "2011-05-31 13:30:42",
            "local_id": 2776,
            "follower_count": 1,
            "metadata": {
                "kind": "enhancement",
                "version": None,
                "component": "repository",
                "milestone": None,
            },
            "resource_uri": "/1.0/repositories/site/master/issues/2776",
            "is_spam": False,
        }
    ],
}


def write_zip(path: Path, files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def world_zip(tmp_path: Path, name: str = "export.zip", **kwargs: object) -> Path:
    world, repo = make_world()
    path = tmp_path / name
    path.write_bytes(export_zip(world, repo, **kwargs))  # type: ignore[arg-type]
    return path


def strip_users(value: object, nick: dict[str, str]) -> object:
    """Replace every UserRef by its username so 1.0 and 2.0 parses compare equal."""
    if isinstance(value, UserRef):
        return value.username or nick.get(value.account_id or "")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: strip_users(getattr(value, f.name), nick)
            for f in dataclasses.fields(value)
            if f.name not in ("path", "users", "format", "url")
        }
    if isinstance(value, dict):
        return {k: strip_users(v, nick) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_users(v, nick) for v in value]
    return value


# --- reading what the simulator (and Bitbucket) write ------------------------------------------


def test_reads_a_20_export_into_plain_records(tmp_path: Path) -> None:
    with read_archive(world_zip(tmp_path)) as opened:
        archive = opened.archive
        assert archive.format == "2.0" and opened.json_name == "db-2.0.json"
        assert [i.id for i in archive.issues] == [1, 2, 5]
        one = archive.issues[0]
        assert one.state == "resolved" and one.component == "core" and one.milestone == "M1"
        assert one.reporter == UserRef(account_id="557058:00000000-aaaa", display_name="Ana Ruiz")
        assert [w.display_name for w in one.watchers] == ["Ana Ruiz", "Борис Петров"]
        assert one.content == "Steps:\r\n1. run `x` and see http://example.com/a/b"
        assert archive.issues[1].reporter is None
        assert archive.milestones == ["M1", "2013-03-05"] and archive.versions == ["1.2"]
        assert archive.meta["default_kind"] == "bug"
        # comments: the real ones; comments carrying logs are changes (with their text)
        texts = {c.id: c.content for c in archive.comments}
        assert texts == {1000: "Can reproduce.", 1001: "Edited later: ü"}
        changes = {c.id: c for c in archive.changes}
        fixed = changes[1]
        assert fixed.message == "Fixed in 1.2" and fixed.issue == 1
        assert {(i.field, i.old, i.new) for i in fixed.items} == {
            ("state", "new", "resolved"),
            ("assignee", None, "boris"),
        }
        title = next(c for c in archive.changes if c.items[0].field == "title")
        assert title.items[0].new == LONG_TITLE[:254] and title.items[0].old == "short"
        assert title.items[1].field == "kind"  # file order is the ordinal
        files = {a.filename: opened.content(a) for a in archive.attachments}
        assert files == {"trace.log": b"line 1\nline 2\n", "screen shot.png": bytes(range(256))}
        trace = next(a for a in archive.attachments if a.filename == "trace.log")
        assert trace.uploaded_on == "2024-03-01T10:07:00+00:00".replace("+", ".000000+")
        assert archive.warnings == []


def test_both_formats_normalise_to_the_same_history(tmp_path: Path) -> None:
    world, repo = make_world()
    nick = {u.account_id: u.nickname for u in world.users.values()}
    with zipfile.ZipFile(world_zip(tmp_path, both=True)) as both:
        doc_10, doc_20 = (json.loads(both.read(f"db-{v}.json")) for v in ("1.0", "2.0"))
    v1 = parse_document(doc_10, "db-1.0.json")
    v2 = parse_document(doc_20, "db-2.0.json")
    assert (v1.format, v2.format) == ("1.0", "2.0")
    assert v1.issues[0].reporter == UserRef(username="anaruiz")
    assert strip_users(v1, nick) == strip_users(v2, nick)
    legacy = parse_document(export_json(world, repo, "1.0"), "db-1.0.json")  # pre-2019: no url
    assert [a.uploaded_on for a in legacy.attachments] == [None, None]
    assert strip_users(legacy.issues, nick) == strip_users(v2.issues, nick)


def test_a_zip_with_both_files_reads_20_and_learns_usernames_from_10(tmp_path: Path) -> None:
    with read_archive(world_zip(tmp_path, both=True)) as opened:
        assert opened.json_name == "db-2.0.json"
        reporter = opened.archive.issues[0].reporter
        assert reporter == UserRef("557058:00000000-aaaa", "anaruiz", "Ana Ruiz")
        assert len(opened.archive.attachments) == 2  # one JSON's attachments, not both


def test_bare_json_with_attachments_beside_it(tmp_path: Path) -> None:
    world, repo = make_world()
    doc = export_json(world, repo)
    (tmp_path / "attachments").mkdir()
    for n, attachment in enumerate(doc["attachments"]):
        (tmp_path / attachment["path"]).write_bytes(b"file %d" % n)
    doc["attachments"].append({"path": "attachments/gone", "issue": 1, "filename": "x"})
    (tmp_path / "export.json").write_bytes(dumps(doc))
    with read_archive(tmp_path / "export.json") as opened:
        assert opened.archive.format == "2.0"
        got = sorted(opened.content(a) or b"" for a in opened.archive.attachments)
        assert got == [b"", b"file 0", b"file 1"]
        assert opened.archive.warnings == [
            "attachment 'attachments/gone' (issue #1): file missing from the archive"
        ]


def test_third_party_variants_are_accepted(tmp_path: Path) -> None:
    doc = {  # pretty-printed, naive and Z timestamps, nulls, "None", gibiexport's "assignee"
        "issues": [
            {
                "id": "3",
                "title": "t",
                "reporter": None,
                "watchers": None,
                "voters": None,
                "status": "new",
                "created_on": "2015-01-02T03:04:05",
                "updated_on": "2015-01-03T03:04:05Z",
                "content": {"raw": "REST-shaped", "markup": "markdown"},
                "milestone": {"id": 4, "name": "M"},
            }
        ],
        "comments": [{"id": 1, "issue": 3, "user": "bob", "content": None}],
        "logs": [
            {
                "issue": 3,
                "comment": 1,
                "field": "assignee",
                "changed_from": "None",
                "changed_to": "bob",
            },
            {"issue": 3, "field": "milestone", "changed_from": "", "changed_to": "M", "user": "x"},
        ],
        "meta": {"default_kind": "task"},
    }
    path = tmp_path / "db-1.0.json"
    path.write_text(json.dumps(doc, indent=4, sort_keys=True))
    with read_archive(path) as opened:
        archive = opened.archive
    issue = archive.issues[0]
    assert (issue.id, issue.kind, issue.content, issue.milestone) == (3, "task", "REST-shaped", "M")
    assert issue.created_on == "2015-01-02T03:04:05.000000+00:00"
    assert issue.updated_on == "2015-01-03T03:04:05.000000+00:00"
    assert issue.watchers == [] and archive.comments == []
    first, orphan = archive.changes
    assert (first.id, first.items[0].field, first.items[0].old) == (1, "assignee", None)
    assert orphan.id == 2 and orphan.items[0].new == "M"  # grouped under a fresh id


def test_old_10_api_records_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "issues.json"
    path.write_text(json.dumps(SEED_10))
    with read_archive(path) as opened:
        archive = opened.archive
    assert archive.format == "1.0-api"
    (issue,) = archive.issues
    assert (issue.id, issue.state, issue.kind, issue.component) == (
        2776,
        "resolved",
        "enhancement",
        "repository",
    )
    assert issue.reporter == UserRef(username="ystrot", display_name="Yuri Strot")
    assert issue.assignee is not None and issue.assignee.username == "evzijst"
    assert issue.created_on == issue.updated_on == "2011-05-31T13:30:42.000000+00:00"


# --- bad input: one clear line naming the problem and the record --------------------------------


def doc_with(**changes: object) -> dict:
    world, repo = make_world()
    doc = export_json(world, repo)
    doc.update(changes)
    return doc


def bad_documents() -> list[tuple[str, dict, str]]:
    good = doc_with()
    issue = dict(next(i for i in good["issues"] if i["id"] == 1))
    comment = dict(next(c for c in good["comments"] if c["id"] == 1000))
    attachment = dict(good["attachments"][0])
    no_title = {k: v for k, v in issue.items() if k != "title"}
    no_id = {k: v for k, v in issue.items() if k != "id"}
    return [
        ("missing title", doc_with(issues=[no_title]), 'issue #1: missing "title"'),
        ("missing id", doc_with(issues=[no_id]), 'issues[0]: missing "id"'),
        ("bad id", doc_with(issues=[{**issue, "id": "x"}]), "issue"),
        ("duplicate issue", doc_with(issues=[issue, issue]), "issue #1: duplicate id"),
        (
            "duplicate comment",
            doc_with(comments=[comment, comment], logs=[]),
            "comment 1000: duplicate id",
        ),
        (
            "comment without issue",
            doc_with(comments=[{**comment, "issue": 99}], logs=[]),
            "comment 1000: issue #99 is not in the archive",
        ),
        (
            "duplicate attachment",
            doc_with(attachments=[attachment, attachment]),
            "duplicate path",
        ),
        (
            "escaping path",
            doc_with(attachments=[{**attachment, "path": "../../etc/passwd"}]),
            "escapes the archive",
        ),
        (
            "absolute path",
            doc_with(attachments=[{**attachment, "path": "/etc/passwd"}]),
            "escapes the archive",
        ),
        (
            "attachment without filename",
            doc_with(attachments=[{"path": "attachments/a", "issue": 1}]),
            "attachment 'attachments/a' (issue #1): missing \"filename\"",
        ),
        ("bad timestamp", doc_with(issues=[{**issue, "created_on": "yesterday"}]), "issue #1"),
        ("log without field", doc_with(logs=[{"issue": 1, "comment": 1000}]), 'missing "field"'),
        ("issues not a list", {"issues": {"1": issue}}, 'no "issues" list'),
    ]


@pytest.mark.parametrize("case", bad_documents(), ids=lambda c: c[0])
def test_bad_records_are_named(tmp_path: Path, case: tuple[str, dict, str]) -> None:
    _, doc, message = case
    path = write_zip(tmp_path / "bad.zip", {"db-2.0.json": dumps(doc)})
    with pytest.raises(ArchiveError) as caught:
        read_archive(path)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_not_a_zip_nor_json(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ArchiveError, match="x.zip: not a zip file or a db-\\*.json export"):
        read_archive(path)


def test_a_zip_that_is_not_a_bitbucket_export(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "other.zip", {"README.md": b"hello", "data.json": b"{}"})
    with pytest.raises(ArchiveError, match="not a Bitbucket issue export"):
        read_archive(path)


def test_invalid_json(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bad.zip", {"db-2.0.json": b'{"issues": [{"id": 1,}]}'})
    with pytest.raises(ArchiveError, match=r"db-2.0.json: invalid JSON \(.* line 1 column"):
        read_archive(path)


def test_zip_bomb_is_refused_before_reading(tmp_path: Path) -> None:
    bomb = b"\0" * (8 * 1024 * 1024)  # deflates ~1000x
    path = write_zip(
        tmp_path / "bomb.zip", {"db-2.0.json": b'{"issues":[]}', "attachments/x": bomb}
    )
    with pytest.raises(ArchiveError, match="'attachments/x' expands .*x .*zip bomb"):
        read_archive(path)


def test_total_size_limit(tmp_path: Path) -> None:
    path = world_zip(tmp_path)
    with pytest.raises(ArchiveError, match="bytes uncompressed, more than allowed"):
        read_archive(path, Limits(max_total_bytes=1000))


def test_lying_size_header_is_capped(tmp_path: Path) -> None:
    """A central directory that understates an entry's size cannot make us read more."""
    name = b"attachments/a"
    path = write_zip(
        tmp_path / "lie.zip", {"db-2.0.json": b'{"issues":[]}', name.decode(): b"A" * 5000}
    )
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 1)  # the second entry's
    assert data[central + 46 : central + 46 + len(name)] == name
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # "uncompressed size: 10"
    path.write_bytes(bytes(data))
    with read_archive(path) as opened:
        try:
            got = opened.container.read(name.decode())
        except ArchiveError as exc:
            assert "attachments/a" in str(exc)
        else:
            assert got is not None and len(got) <= 10


def test_zip_entry_names_that_escape_are_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "slip.zip", {"db-2.0.json": b'{"issues":[]}', "../evil": b"x"})
    with pytest.raises(ArchiveError, match="entry '../evil' escapes the archive"):
        read_archive(path)


# --- import into the mirror, export from it ----------------------------------------------------


def generated(seed: int = 3, size: str = "tiny") -> tuple[World, Repository]:
    world = generate(seed, size)
    repo = max(world.repositories.values(), key=lambda r: len(r.issues))
    assert repo.issues
    return world, repo


def canonical(doc: dict, files: dict[str, bytes]) -> dict:
    """An export document as sets of records: order, paths and carrier renumbering aside."""
    out = {}
    for key, value in doc.items():
        if key == "attachments":
            value = [
                {**{k: v for k, v in a.items() if k != "path"}, "bytes": files.get(a["path"])}
                for a in value
            ]
        if isinstance(value, list):
            value = sorted(json.dumps(v, sort_keys=True, default=repr) for v in value)
        out[key] = value
    return out


def read_export(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        doc = json.loads(archive.read("db-2.0.json"))
        files = {n: archive.read(n) for n in archive.namelist() if n.startswith("attachments/")}
    return canonical(doc, files)


def table_rows(db: Path, *, skip: tuple[str, ...] = ("synced_at",)) -> dict[str, list]:
    """Every row of every issue-related table, without the columns in ``skip``."""
    conn = sqlite3.connect(db)
    out = {}
    for table in ISSUE_TABLES:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])") if r[1] not in skip]
        sql = f"SELECT {', '.join(cols)} FROM [{table}] ORDER BY id"
        out[table] = conn.execute(sql).fetchall()
    conn.close()
    return out


def live_rows(world: World, repo: Repository, db: Path, source: str = "cloud") -> None:
    """What live sync writes for the repository's issues, from rendered objects."""
    base = "http://sim/2.0"
    rid = repo.uuid
    rowsets = [cloud_rows.repository(render.repository(world, repo, base), source=source)]
    rowsets += [rows.user(render.user(world, u, base), source=source) for u in world.users.values()]
    for kind, table in (("milestone", repo.milestones), ("version", repo.versions)):
        fn = getattr(cloud_issues, kind)
        rowsets += [
            fn(render.named(world, repo, kind, n, base), source=source, repository_id=rid)
            for n in table.values()
        ]
    rowsets += [
        cloud_issues.component(
            render.named(world, repo, "component", n, base), source=source, repository_id=rid
        )
        for n in repo.components.values()
    ]
    for issue in repo.issues.values():
        key = rows.issue_key(rid, issue.id)
        rowsets.append(
            cloud_issues.issue(
                render_issues.issue(world, repo, issue, base), source=source, repository_id=rid
            )
        )
        children = (
            (cloud_issues.issue_comment, render_issues.issue_comment, issue.comments),
            (cloud_issues.issue_change, render_issues.issue_change, issue.changes),
            (cloud_issues.issue_attachment, render_issues.attachment, issue.attachments),
        )
        rowsets += [
            transform(
                rendered(world, repo, issue, child, base),
                source=source,
                repository_id=rid,
                issue_id=key,
            )
            for transform, rendered, items in children
            for child in items
        ]
    with Store.open(db) as store:
        store.write(rows.combine(*rowsets))


@pytest.mark.parametrize("maker", [make_world, generated], ids=["hand-built", "generated"])
def test_round_trip_export_of_import_equals_the_zip(tmp_path: Path, maker) -> None:
    world, repo = maker()
    original = export_zip(world, repo)
    (tmp_path / "in.zip").write_bytes(original)
    calls: list[tuple[str, str, int]] = []
    summary = import_archive(
        tmp_path / "m.db", tmp_path / "in.zip", repo.full_name, progress=lambda *a: calls.append(a)
    )
    assert summary.issues == len(repo.issues) and summary.changed > 0
    assert calls[-1] == (repo.full_name, "issues", len(repo.issues))
    assert "rows changed" in summary.line() and "\n" not in summary.line()
    exported = export_archive(tmp_path / "m.db", repo.full_name, tmp_path / "out.zip")
    assert exported.issues == len(repo.issues) and exported.without_bytes == 0
    assert read_export((tmp_path / "out.zip").read_bytes()) == read_export(original)
    with zipfile.ZipFile(tmp_path / "out.zip") as out:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in out.infolist())


def test_issue_rows_say_they_came_from_an_archive(tmp_path: Path) -> None:
    world, repo = make_world()
    (tmp_path / "in.zip").write_bytes(export_zip(world, repo))
    summary = import_archive(tmp_path / "m.db", tmp_path / "in.zip", "acme/widget")
    assert summary.source == "archive"
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("SELECT DISTINCT origin FROM issues").fetchall() == [("archive",)]
    repo_row = conn.execute("SELECT id, full_name, source FROM repositories").fetchall()
    assert repo_row == [("archive:archive/acme/widget", "acme/widget", "archive")]
    blob = conn.execute(
        "SELECT content, size, created_on FROM issue_attachments WHERE name = 'trace.log'"
    ).fetchone()
    assert blob == (b"line 1\nline 2\n", 14, "2024-03-01T10:07:00.000000+00:00")
    title = conn.execute("SELECT old, new FROM issue_change_items WHERE field = 'title'").fetchone()
    assert title == ("short", LONG_TITLE[:254])
    conn.close()


def test_both_formats_import_to_the_same_rows(tmp_path: Path) -> None:
    world, repo = generated(seed=5)
    both = export_zip(world, repo, both=True)
    with zipfile.ZipFile(io.BytesIO(both)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    results = []
    paths_20 = [a["path"] for a in json.loads(members["db-2.0.json"])["attachments"]]
    for version in ("1.0", "2.0"):
        doc = json.loads(members[f"db-{version}.json"])
        files = {p: members[a["path"]] for a, p in zip(doc["attachments"], paths_20, strict=True)}
        for attachment, path_20 in zip(doc["attachments"], paths_20, strict=True):
            attachment["path"] = path_20  # each file has its own copies (§1); rows keep paths
        path = write_zip(tmp_path / f"{version}.zip", {f"db-{version}.json": dumps(doc), **files})
        db = tmp_path / f"{version}.db"
        live_rows(world, repo, db)
        with Store.open(db) as store:  # an archive-only mirror: forget the live issue rows
            for table in ISSUE_TABLES:
                store.conn.execute(f"DELETE FROM [{table}]")
        summary = import_archive(db, path, repo.full_name)
        assert summary.format == version
        results.append(table_rows(db))
    assert results[0]["issues"] and results[0] == results[1]


def test_reimport_changes_nothing(tmp_path: Path) -> None:
    world, repo = generated()
    (tmp_path / "in.zip").write_bytes(export_zip(world, repo))
    import_archive(tmp_path / "m.db", tmp_path / "in.zip", repo.full_name)
    before = table_rows(tmp_path / "m.db", skip=())
    again = import_archive(tmp_path / "m.db", tmp_path / "in.zip", repo.full_name)
    assert again.changed == 0 and again.rows == {}
    assert table_rows(tmp_path / "m.db", skip=()) == before


def test_newer_archive_updates_rows_and_keeps_old_changes(tmp_path: Path) -> None:
    world, repo = make_world()
    (tmp_path / "old.zip").write_bytes(export_zip(world, repo))
    import_archive(tmp_path / "m.db", tmp_path / "old.zip", "acme/widget")
    issue = repo.issues[5]
    dropped = issue.changes.pop(0)  # the newer archive no longer carries this change
    issue.changes.append(
        IssueChange(50, issue.reporter_uuid, t(30), {"state": {"old": "new", "new": "open"}})
    )
    issue.state, issue.updated_on = "open", t(31)
    issue.comments.append(Comment(900, issue.reporter_uuid, "still broken", t(31), t(31)))
    (tmp_path / "new.zip").write_bytes(export_zip(world, repo))
    summary = import_archive(tmp_path / "m.db", tmp_path / "new.zip", "acme/widget")
    assert summary.rows == {"issues": 1, "comments": 1, "issue_changes": 1, "issue_change_items": 1}
    conn = sqlite3.connect(tmp_path / "m.db")
    key = "archive:archive/acme/widget/issue/5"
    assert conn.execute("SELECT state, updated_on FROM issues WHERE id = ?", (key,)).fetchone() == (
        "open",
        t(31),
    )
    changes = {
        r[0] for r in conn.execute("SELECT change_id FROM issue_changes WHERE issue_id = ?", (key,))
    }
    assert changes == {dropped.id, 3, 50}
    conn.close()
    # an older archive afterwards does not roll anything back
    again = import_archive(tmp_path / "m.db", tmp_path / "old.zip", "acme/widget")
    assert again.rows == {} and again.kept_newer == 1


def test_live_sync_then_archive_import_gives_no_duplicates(tmp_path: Path) -> None:
    world, repo = generated(seed=7, size="small")
    db = tmp_path / "m.db"
    live_rows(world, repo, db)
    counts = {t: n for t, n in _counts(db).items()}
    (tmp_path / "in.zip").write_bytes(export_zip(world, repo))
    summary = import_archive(db, tmp_path / "in.zip", repo.full_name)
    assert summary.source == "cloud"  # the mirrored repository's own source
    assert _counts(db) == counts  # not one row more anywhere
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT DISTINCT origin FROM issues").fetchall() == [("api",)]
    assert conn.execute(
        "SELECT count(*) FROM issue_attachments WHERE content IS NULL"
    ).fetchone() == (0,)
    conn.close()
    assert summary.rows == {
        "issue_attachments": sum(len(i.attachments) for i in repo.issues.values())
    }


def test_live_and_archive_merge_by_newer_updated_on(tmp_path: Path) -> None:
    world, repo = make_world()
    db = tmp_path / "m.db"
    live_rows(world, repo, db)
    issue = repo.issues[1]
    issue.title, issue.updated_on = "Renamed offline", t(40)  # the archive is newer for #1
    repo.issues[2].updated_on = "2020-01-01T00:00:00.000000+00:00"  # and older for #2
    repo.issues[2].title = "stale title"
    (tmp_path / "in.zip").write_bytes(export_zip(world, repo))
    summary = import_archive(db, tmp_path / "in.zip", "acme/widget")
    assert summary.kept_newer == 1
    conn = sqlite3.connect(db)
    got = dict(conn.execute("SELECT number, title || ' / ' || origin FROM issues"))
    assert got[1] == "Renamed offline / archive"
    assert got[2] == "Unicode и control \u0001 chars / api"
    conn.close()


def test_export_from_live_synced_rows(tmp_path: Path) -> None:
    world, repo = make_world()
    live_rows(world, repo, tmp_path / "m.db")
    summary = export_archive(tmp_path / "m.db", "acme/widget", tmp_path / "out.zip")
    assert summary.attachments == 2 and summary.without_bytes == 2  # records, no bytes
    with read_archive(tmp_path / "out.zip") as opened:
        archive = opened.archive
    assert [i.id for i in archive.issues] == [1, 2, 5]
    assert archive.issues[0].reporter == UserRef("557058:00000000-aaaa", None, "Ana Ruiz")
    fixed = next(c for c in archive.changes if c.id == 1)
    assert fixed.message == "Fixed in 1.2"
    assert {(i.field, i.old, i.new) for i in fixed.items} == {
        ("state", "new", "resolved"),
        ("assignee", None, "boris"),  # from assignee_account_id, as a username
    }
    assert {c.id for c in archive.comments} == {1000, 1001}  # the deleted one is left out
    with pytest.raises(ArchiveError, match="no such repository"):
        export_archive(tmp_path / "m.db", "acme/nothing", tmp_path / "x.zip")


def test_full_text_search_in_datasette(tmp_path: Path) -> None:
    world, repo = make_world()
    (tmp_path / "in.zip").write_bytes(export_zip(world, repo))
    import_archive(tmp_path / "m.db", tmp_path / "in.zip", "acme/widget")
    from datasette.app import Datasette

    async def search() -> tuple[list, list]:
        ds = Datasette([str(tmp_path / "m.db")])
        issues = await ds.client.get("/m/issues.json?_search=crash&_shape=array")
        comments = await ds.client.get("/m/comments.json?_search=reproduce&_shape=array")
        return issues.json(), comments.json()

    issues, comments = asyncio.run(search())
    assert [i["number"] for i in issues] == [1]
    assert [c["comment_id"] for c in comments] == [1000]


# --- bad input leaves the database untouched ---------------------------------------------------


def test_bad_archives_leave_the_database_untouched(tmp_path: Path) -> None:
    world, repo = make_world()
    db = tmp_path / "m.db"
    (tmp_path / "good.zip").write_bytes(export_zip(world, repo))
    import_archive(db, tmp_path / "good.zip", "acme/widget")
    before = db.read_bytes()
    bad = [
        write_zip(tmp_path / f"{n}.zip", {"db-2.0.json": dumps(doc)})
        for n, (_, doc, _) in enumerate(bad_documents())
    ]
    bad.append(write_zip(tmp_path / "json.zip", {"db-2.0.json": b"{nope"}))
    bad.append(write_zip(tmp_path / "other.zip", {"README": b"x"}))
    bad.append(
        write_zip(
            tmp_path / "bomb.zip",
            {"db-2.0.json": b'{"issues":[]}', "attachments/x": b"\0" * (4 << 20)},
        )
    )
    (tmp_path / "junk.zip").write_bytes(b"junk")
    bad.append(tmp_path / "junk.zip")
    for path in bad:
        with pytest.raises(ArchiveError):
            import_archive(db, path, "acme/widget")
        assert db.read_bytes() == before, path.name
    with pytest.raises(ArchiveError, match="WORKSPACE/SLUG"):
        import_archive(db, tmp_path / "good.zip", "no-slash")


def test_failure_mid_import_rolls_everything_back(tmp_path: Path) -> None:
    """A corrupt attachment is found only while writing: the whole import is undone."""
    world, repo = make_world()
    db = tmp_path / "m.db"
    Store.open(db).close()
    before = db.read_bytes()
    data = bytearray(export_zip(world, repo))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = next(i for i in archive.infolist() if i.filename.startswith("attachments/"))
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 2] ^= 0xFF  # corrupt the compressed bytes: CRC or inflate error on read
    (tmp_path / "corrupt.zip").write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="cannot be read"):
        import_archive(db, tmp_path / "corrupt.zip", "acme/widget")
    assert db.read_bytes() == before


def _counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    out = {
        t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0]
        for t in (*ISSUE_TABLES, "users", "repositories")
    }
    conn.close()
    return out
