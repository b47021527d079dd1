"""The simulator's issue-export zips look like Bitbucket's own (export-format.md §1-§5)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime

import pytest

from bbmirror.archive.encoding import TOP_LEVEL_KEYS
from bbmirror.simulator.cloud import world as sim
from bbmirror.simulator.cloud.export import export_json, export_zip

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
LONG_TITLE = "A very long title " * 20  # 360 characters: logs keep 254


def t(n: int) -> str:
    """A world timestamp ``n`` minutes after a fixed start."""
    return f"2024-03-01T{10 + n // 60:02d}:{n % 60:02d}:00.{n:06d}+00:00"


PLAIN = {"assignee_uuid": None, "state": "new", "kind": "bug", "priority": "minor", "content": ""}


def plain_issue(
    number: int, title: str, reporter: str, minutes: tuple[int, int], **fields
) -> sim.Issue:
    """An issue opened and last updated at these minutes: an unassigned new minor bug with no
    content, but for what ``fields`` say."""
    start, end = minutes
    fields = {**PLAIN, **fields}
    return sim.Issue(number, title, reporter, created_on=t(start), updated_on=t(end), **fields)


def make_world() -> tuple[sim.World, sim.Repository]:
    """A small hand-built world exercising every export feature."""
    world = sim.World(clock="2024-03-02T00:00:00.000000+00:00")
    for n, (name, nick) in enumerate(
        [("Ana Ruiz", "anaruiz"), ("Борис Петров", "boris"), ("Chen Li", "chen")]
    ):
        uuid = f"{{0000000{n}-1111-2222-3333-444455556666}}"
        world.users[uuid] = sim.User(uuid, f"557058:{n:08d}-aaaa", name, nick, t(0))
    ana, boris, chen = list(world.users)
    repo = sim.Repository(
        uuid="{99999999-1111-2222-3333-444455556666}",
        workspace="acme",
        slug="widget",
        name="Widget",
        description="",
        is_private=True,
        has_issues=True,
        mainbranch="main",
        language="python",
        size=1,
        created_on=t(0),
        updated_on=t(0),
        milestones={1: sim.Named(1, "M1"), 2: sim.Named(2, "2013-03-05")},
        versions={1: sim.Named(1, "1.2")},
        components={1: sim.Named(1, "core"), 2: sim.Named(2, "Web Frontend")},
    )
    world.repositories[repo.uuid] = repo
    repo.issues[1] = sim.Issue(
        id=1,
        title="Crash on empty input",
        reporter_uuid=ana,
        assignee_uuid=boris,
        state="resolved",
        kind="bug",
        priority="major",
        content="Steps:\r\n1. run `x` and see http://example.com/a/b",
        created_on=t(1),
        updated_on=t(20),
        edited_on=t(3),
        milestone_id=1,
        version_id=1,
        component_id=1,
        watcher_uuids=[ana, boris],
        comments=[
            sim.Comment(1000, boris, "Can reproduce.", t(4), t(4)),
            sim.Comment(1001, chen, "Edited later: ü", t(5), t(9)),
            sim.Comment(1002, chen, "spam", t(6), t(6), deleted=True),
        ],
        changes=[
            sim.IssueChange(
                1,
                boris,
                t(10),
                {
                    "state": {"old": "new", "new": "resolved"},
                    "assignee_account_id": {"old": "", "new": world.users[boris].account_id},
                },
                message="Fixed in 1.2",
            ),
            sim.IssueChange(1000, ana, t(11), {"priority": {"old": "minor", "new": "major"}}),
        ],
        attachments=[
            sim.Attachment("trace.log", b"line 1\nline 2\n", t(7)),
            sim.Attachment("screen shot.png", bytes(range(256)), t(8)),
        ],
    )
    repo.issues[2] = plain_issue(
        2,
        "Unicode и control \u0001 chars",
        "{unknown-user}",
        (12, 13),
        state="on hold",
        kind="enhancement",
        priority="trivial",
    )
    repo.issues[5] = plain_issue(
        5,
        LONG_TITLE,
        chen,
        (14, 16),
        kind="task",
        priority="blocker",
        content="body",
        component_id=2,
        milestone_id=2,
        changes=[
            sim.IssueChange(
                2,
                chen,
                t(15),
                {
                    "title": {"old": "short", "new": LONG_TITLE},
                    "kind": {"old": "bug", "new": "task"},
                },
            ),
            sim.IssueChange(3, ana, t(16), {"assignee": {"old": "boris", "new": ""}}),
        ],
    )
    return world, repo


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_zip_layout_matches_real_exports() -> None:
    world, repo = make_world()
    archive = open_zip(export_zip(world, repo))
    names = archive.namelist()
    assert names[:2] == [".signature", "db-2.0.json"]
    files = names[2:]
    assert len(files) == 2 and all(re.fullmatch(r"attachments/[0-9a-f]{32}", n) for n in files)
    assert re.fullmatch(rb"[0-9a-f]{40}", archive.read(".signature"))
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert (info.external_attr >> 16) & 0o777 == 0o600
        assert not info.is_dir()
    doc = json.loads(archive.read("db-2.0.json"))
    by_path = {a["path"]: a for a in doc["attachments"]}
    assert {by_path[n]["filename"]: archive.read(n) for n in files} == {
        "trace.log": b"line 1\nline 2\n",
        "screen shot.png": bytes(range(256)),
    }


def test_json_encoding_is_bitbucket_style() -> None:
    world, repo = make_world()
    raw = open_zip(export_zip(world, repo)).read("db-2.0.json")
    text = raw.decode("utf-8")
    doc = json.loads(text)
    assert tuple(doc) == TOP_LEVEL_KEYS
    assert "\\/" in text and re.search(r"(?<!\\)/", text) is None  # every / escaped
    assert "Борис" in text and "\\u0411" not in text  # raw UTF-8, not \u escapes
    assert "\\u0001" in text  # control characters stay escaped JSON
    assert not text.endswith("\n") and not raw.startswith(b"\xef\xbb\xbf")
    compact = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
    assert text == compact
    assert doc["meta"] == {
        "default_assignee": None,
        "default_component": None,
        "default_kind": "bug",
        "default_milestone": None,
        "default_version": None,
    }
    stamps = [i[k] for i in doc["issues"] for k in ("created_on", "updated_on")]
    stamps += [c["created_on"] for c in doc["comments"]] + [g["created_on"] for g in doc["logs"]]
    assert stamps and all(STAMP.match(s) for s in stamps)


def test_records_follow_the_world() -> None:
    world, repo = make_world()
    doc = export_json(world, repo)
    issues = {i["id"]: i for i in doc["issues"]}
    assert sorted(issues) == [1, 2, 5]
    one = issues[1]
    assert one["reporter"] == {"display_name": "Ana Ruiz", "account_id": "557058:00000000-aaaa"}
    assert one["assignee"]["display_name"] == "Борис Петров"
    assert (one["status"], one["component"], one["milestone"], one["version"]) == (
        "resolved",
        "core",
        "M1",
        "1.2",
    )
    assert [w["display_name"] for w in one["watchers"]] == ["Ana Ruiz", "Борис Петров"]
    assert one["voters"] == [] and one["edited_on"] == t(3)
    assert issues[2]["reporter"] is None and issues[2]["status"] == "on hold"
    assert doc["milestones"] == [{"name": "M1"}, {"name": "2013-03-05"}]
    assert doc["components"] == [{"name": "core"}, {"name": "Web Frontend"}]
    assert doc["versions"] == [{"name": "1.2"}]

    comments = {c["id"]: c for c in doc["comments"]}
    assert 1002 not in comments  # deleted comments are not exported
    assert comments[1000]["updated_on"] is None and comments[1001]["updated_on"] == t(9)
    assert comments[1]["content"] == "Fixed in 1.2" and comments[1]["issue"] == 1

    logs = doc["logs"]
    by_comment: dict[int, list[dict]] = {}
    for log in logs:
        by_comment.setdefault(log["comment"], []).append(log)
    assert all(c in comments for c in by_comment)  # every log points at a comment
    fields = {(g["field"], g["changed_from"], g["changed_to"]) for g in by_comment[1]}
    assert fields == {("status", "new", "resolved"), ("responsible", "", "boris")}
    # change 1000 collides with comment 1000: its carrier is renumbered, content null
    (renumbered,) = [c for c, group in by_comment.items() if group[0]["field"] == "priority"]
    assert renumbered not in (1000, 1001, 1002) and comments[renumbered]["content"] is None
    title = next(g for g in logs if g["field"] == "title")
    assert title["changed_to"] == LONG_TITLE[:254] and len(title["changed_to"]) == 254
    unassign = next(g for g in logs if g["field"] == "responsible" and g["issue"] == 5)
    assert (unassign["changed_from"], unassign["changed_to"]) == ("boris", "")


def test_attachment_urls_carry_the_upload_epoch() -> None:
    world, repo = make_world()
    doc = export_json(world, repo)
    trace = next(a for a in doc["attachments"] if a["filename"] == "trace.log")
    assert re.fullmatch(
        r"https://bitbucket.org/acme/widget/issues/attachments/1/acme/widget/\d+\.\d\d/1/trace.log",
        trace["url"],
    )
    shot = next(a for a in doc["attachments"] if a["filename"] == "screen shot.png")
    assert shot["url"].endswith("/1/screen%20shot.png")
    assert "url" not in export_json(world, repo, "1.0")["attachments"][0]  # pre-2019 file


def test_both_formats_differ_only_in_users_and_paths() -> None:
    world, repo = make_world()
    archive = open_zip(export_zip(world, repo, both=True))
    names = archive.namelist()
    assert names[:2] == [".signature", "db-1.0.json"] and "db-2.0.json" in names
    v1 = json.loads(archive.read("db-1.0.json"))
    v2 = json.loads(archive.read("db-2.0.json"))
    assert len([n for n in names if n.startswith("attachments/")]) == 2 * len(v2["attachments"])
    paths1 = [a["path"] for a in v1["attachments"]]
    paths2 = [a["path"] for a in v2["attachments"]]
    assert not set(paths1) & set(paths2)
    assert [archive.read(p) for p in paths1] == [archive.read(p) for p in paths2]
    nick = {u.account_id: u.nickname for u in world.users.values()}

    def as_10(value: object) -> object:
        if isinstance(value, dict) and set(value) == {"display_name", "account_id"}:
            return nick[value["account_id"]]
        if isinstance(value, dict):
            return {k: as_10(v) for k, v in value.items() if k != "path"}
        if isinstance(value, list):
            return [as_10(v) for v in value]
        return value

    assert as_10(v2) == as_10(v1)
    assert v1["issues"][0]["reporter"] is None or isinstance(v1["issues"][0]["reporter"], str)
    assert "url" in v1["attachments"][0]  # 2019+ 1.0 files carry urls too


def test_export_is_deterministic_and_not_sorted() -> None:
    world, repo = make_world()
    assert export_zip(world, repo, both=True) == export_zip(world, repo, both=True)
    for n in range(3, 40):
        repo.issues[n] = plain_issue(n, f"issue {n}", "{x}", (n, n))
    ids = [i["id"] for i in export_json(world, repo)["issues"]]
    assert sorted(ids) == sorted(repo.issues) and ids != sorted(ids)


def test_unknown_format_is_refused() -> None:
    world, repo = make_world()
    with pytest.raises(ValueError, match="3.0"):
        export_zip(world, repo, fmt="3.0")


def test_logs_have_their_own_time_like_real_exports() -> None:
    world, repo = make_world()
    doc = export_json(world, repo)
    carriers = {c["id"]: c for c in doc["comments"]}
    deltas = []
    for log in doc["logs"]:
        carrier = datetime.fromisoformat(carriers[log["comment"]]["created_on"])
        deltas.append((datetime.fromisoformat(log["created_on"]) - carrier).total_seconds())
    assert all(-0.0002 <= d <= 17.5 for d in deltas)  # the range seen in gdc (§4.4)
    assert any(d != 0 for d in deltas)


def test_switches_for_none_values_and_missing_files() -> None:
    world, repo = make_world()
    doc = export_json(world, repo, none_value="None")
    unassign = next(g for g in doc["logs"] if g["field"] == "responsible" and g["issue"] == 5)
    assert (unassign["changed_from"], unassign["changed_to"]) == ("boris", "None")
    with open_zip(export_zip(world, repo, missing_files=1.0)) as archive:
        records = json.loads(archive.read("db-2.0.json"))["attachments"]
        assert len(records) == 2 and not any(
            n.startswith("attachments/") for n in archive.namelist()
        )
    with pytest.raises(ValueError, match="none_value"):
        export_zip(world, repo, none_value="null")
