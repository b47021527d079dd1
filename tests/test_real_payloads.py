"""Every real captured Bitbucket object converts to rows, with nothing quarantined (issue 12)."""

from __future__ import annotations

import pytest
from realcorpus import cloud, load, server, values

from bbmirror.engine import UNCONVERTIBLE
from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.flavours.cloud import rows_git as cloud_git
from bbmirror.flavours.server import rows as rows_server
from bbmirror.flavours.server import rows_git
from bbmirror.store import rowcheck

REPO = "{3deb8c29-778a-450c-8f69-3e50a18079df}"
DC_REPO = "dc/repo/1"
PR = f"{REPO}/pr/2"

CLOUD = {
    "repository": lambda o: cloud_rows.repository(o, source="cloud"),
    "pullrequest": lambda o: cloud_rows.pullrequest(o, source="cloud", repository_id=REPO),
    "comment": lambda o: cloud_rows.pr_comment(o, source="cloud", repository_id=REPO),
    "activity": lambda o: cloud_rows.pr_activity(o, source="cloud", repository_id=REPO),
    "commit": lambda o: cloud_git.commit(o, source="cloud", repository_id=REPO),
    "commit_status": lambda o: cloud_git.commit_status(o, source="cloud", repository_id=REPO),
    "branch": lambda o: cloud_git.branch(o, source="cloud", repository_id=REPO),
    "member": lambda o: cloud_rows.member(o, source="cloud"),
}
SERVER = {
    "repository": lambda o: rows_server.repository(o, source="dc"),
    "project": lambda o: rows_server.project(o, source="dc"),
    "pullrequest": lambda o: rows_server.pullrequest(o, source="dc", repository_id=DC_REPO),
    "commented": lambda o: rows_server.activity(
        o, source="dc", repository_id=DC_REPO, pullrequest_id=f"{DC_REPO}/pr/1"
    ),
    "opened": lambda o: rows_server.activity(
        o, source="dc", repository_id=DC_REPO, pullrequest_id=f"{DC_REPO}/pr/1"
    ),
    "comment": None,  # comments arrive inside their COMMENTED activity (above)
    "commit": lambda o: rows_git.commit(o, source="dc", repository_id=DC_REPO),
    "build": lambda o: rows_git.build_status(
        o, source="dc", repository_id=DC_REPO, commit_hash="a" * 40
    ),
    "branch": lambda o: rows_git.ref(o, source="dc", repository_id=DC_REPO, kind="branch"),
}


def _convert(function, obj) -> dict:
    try:
        return rowcheck.check(function(obj))
    except UNCONVERTIBLE as exc:  # what the engine would quarantine
        pytest.fail(f"a real object would be quarantined: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize(
    ("flavour", "kind"), [*(("cloud", k) for k in CLOUD), *(("server", k) for k in SERVER)]
)
def test_every_real_object_converts_with_nothing_quarantined(flavour, kind):
    corpus, functions = (cloud(), CLOUD) if flavour == "cloud" else (server(), SERVER)
    function = functions[kind]
    if function is None:
        return
    assert corpus[kind], f"no real {flavour} {kind} in the corpus"
    for obj in corpus[kind]:
        assert _convert(function, obj)


def test_at_least_five_kinds_per_flavour():
    assert len([k for k, v in cloud().items() if v]) >= 5
    assert len([k for k, v in server().items() if v]) >= 5


def test_real_cloud_status_without_uuid_is_keyed_by_commit_and_key():
    rs = _convert(CLOUD["commit_status"], load("cloud/commit_status.json"))
    (row,) = rs["commit_statuses"]
    sha = "9fec847784abb10b2fa567ee63b85bd238955d0e"
    assert row["id"] == f"{REPO}/{sha}/status/mybuildtool"
    assert (row["commit_hash"], row["state"]) == (sha, "INPROGRESS")


def test_real_dc_iso_dates_and_draft_are_read():
    rs = _convert(SERVER["pullrequest"], load("server/pullrequest_iso_dates.json"))
    (pr,) = rs["pullrequests"]
    assert pr["created_on"] == pr["updated_on"] == "2018-07-05T05:01:10.000000+00:00"
    draft = _convert(SERVER["pullrequest"], load("server/pullrequest_draft.json"))
    assert draft["pullrequests"][0]["draft"] == 1
    assert pr["draft"] is None  # an older release that says nothing about drafts


def test_real_dc_merge_commit_is_mapped():
    obj = load("server/pullrequest_draft.json")
    sha = "bf0e8b7962c024026ad01ae09d3a11732e26c0d4"
    obj = {
        **obj,
        "state": "MERGED",
        "properties": {**obj["properties"], "mergeCommit": {"id": sha}},
    }
    (pr,) = _convert(SERVER["pullrequest"], obj)["pullrequests"]
    assert pr["merge_commit"] == sha


def test_real_dc_activity_thread_and_build_statuses():
    (commented, _, opened) = values("server/pullrequest_activities.json")
    rs = _convert(SERVER["commented"], commented)
    assert {c["body"] for c in rs["comments"]} == {
        "this is second comment",
        "this is reply to second comment",
    }
    assert _convert(SERVER["opened"], opened)["pullrequest_activity"][0]["state"] == "OPEN"
    ids = {
        _convert(SERVER["build"], b)["commit_statuses"][0]["id"]
        for b in values("server/build_statuses.json")
    }
    assert ids == {f"{DC_REPO}/{'a' * 40}/status/AC-TEST", f"{DC_REPO}/{'a' * 40}/status/AC-TEST2"}


def test_real_cloud_pr_comment_finds_its_pull_request():
    (comment,) = values("cloud/pullrequest_comments.json")
    (row,) = _convert(CLOUD["comment"], comment)["comments"]
    assert row["pullrequest_id"] == f"{REPO}/pr/3"
    assert row["body"] == "Lovely comment"
