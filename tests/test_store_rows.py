"""API objects -> rows, checked against the example objects in reference/bitbucket-cloud.md."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbmirror import rows
from bbmirror.compact import rebuild
from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.flavours.cloud import rows_git as cloud_git
from bbmirror.flavours.cloud import rows_issues as cloud_issues
from bbmirror.rows import RowError, to_utc
from bbmirror.store import rowcheck
from bbmirror.store.schema import TABLES

SRC = "cloud"
REPO = "{988b17c6-1a47-4e70-84ee-854d5f012bf6}"

BRODIE = {
    "display_name": "Brodie Rao",
    "uuid": "{9484702e-c663-4afd-aefb-c93a8cd31c28}",
    "links": {
        "self": {
            "href": "https://api.bitbucket.org/2.0/users/%7B9484702e-c663-4afd-aefb-c93a8cd31c28%7D"
        },
        "html": {"href": "https://bitbucket.org/%7B9484702e-c663-4afd-aefb-c93a8cd31c28%7D/"},
        "avatar": {"href": "https://avatar-management--avatars.example/557058:3aae/128"},
    },
    "type": "user",
    "nickname": "brodie",
    "account_id": "557058:3aae1e05-702a-41e5-81c8-f36f29afb6ca",
}
EVZIJST = {
    "username": "evzijst",
    "nickname": "evzijst",
    "display_name": "evzijst",
    "type": "user",
    "uuid": "{aaa7972b-38af-4fb1-802d-6e3854c95778}",
    "links": {},
}
CONDENSED_REPO = {
    "links": {
        "self": {"href": "https://api.bitbucket.org/2.0/repositories/evzijst/dogslow"},
        "html": {"href": "https://bitbucket.org/evzijst/dogslow"},
        "avatar": {"href": "https://bitbucket.org/evzijst/dogslow/avatar/32/"},
    },
    "type": "repository",
    "name": "dogslow",
    "full_name": "evzijst/dogslow",
    "uuid": REPO,
}
WORKSPACE = {
    "uuid": "{a15fb181-db1f-48f7-b41f-e1eff06929d6}",
    "links": {"self": {"href": "https://api.bitbucket.org/2.0/workspaces/bbworkspace1"}},
    "created_on": "2018-11-14T19:15:05.058566+00:00",
    "type": "workspace",
    "slug": "bbworkspace1",
    "is_private": True,
    "name": "Atlassian Bitbucket",
}
PR = {  # the [SPEC] example, abridged in the reference, with an author and a participant
    "id": 1,
    "type": "pullrequest",
    "state": "OPEN",
    "title": "Change a cooperative standard to a smiling disease",
    "description": "Everything is awesome!",
    "summary": {
        "raw": "Everything is awesome!",
        "markup": "markdown",
        "html": "<p>Everything is awesome!</p>",
        "type": "rendered",
    },
    "author": BRODIE,
    "source": {
        "branch": {"name": "branch_magnificent_internet"},
        "commit": {"hash": "c184aab5708b", "type": "commit", "links": {}},
        "repository": CONDENSED_REPO,
    },
    "destination": {
        "branch": {"name": "master"},
        "commit": {"hash": "230269fdfabd", "type": "commit"},
        "repository": CONDENSED_REPO,
    },
    "merge_commit": None,
    "closed_by": None,
    "reason": "",
    "reviewers": [EVZIJST],
    "participants": [
        {
            "type": "participant",
            "user": EVZIJST,
            "role": "REVIEWER",
            "approved": True,
            "state": "approved",
            "participated_on": "2018-06-21T10:00:00.000001+02:00",
        }
    ],
    "comment_count": 0,
    "task_count": 0,
    "close_source_branch": True,
    "created_on": "2018-06-20T23:17:33.616037+00:00",
    "updated_on": "2018-06-20T23:17:33.616037+00:00",
    "links": {
        "html": {"href": "https://bitbucket.org/example-username/bits_and_bobs/pull-requests/1"}
    },
}
PR_REF = {"type": "pullrequest", "id": 5695, "links": {}, "title": "..."}
PR_COMMENT = {
    "links": {"self": {"href": ".../pullrequests/5695/comments/118571088"}},
    "deleted": False,
    "pullrequest": PR_REF,
    "content": {
        "raw": "inline with to a dn from lines",
        "markup": "markdown",
        "html": "<p>inline with to a dn from lines</p>",
        "type": "rendered",
    },
    "created_on": "2019-09-27T00:33:46.039178+00:00",
    "user": BRODIE,
    "updated_on": "2019-09-27T00:33:46.055384+00:00",
    "inline": {"context_lines": "", "to": None, "path": "", "outdated": False, "from": 211},
    "type": "pullrequest_comment",
    "id": 118571088,
}
ACTIVITY_COMMENT = {"comment": PR_COMMENT, "pull_request": PR_REF}
ACTIVITY_UPDATE = {
    "update": {
        "description": "",
        "title": "...",
        "destination": {
            "commit": {"type": "commit", "hash": "6a2c16e4a152", "links": {}},
            "branch": {"name": "master"},
            "repository": CONDENSED_REPO,
        },
        "reason": "",
        "source": {"commit": {"hash": "aaaabbbbcccc"}, "branch": {"name": "feature"}},
        "state": "OPEN",
        "author": BRODIE,
        "date": "2019-05-10T06:48:25.305565+00:00",
    },
    "pull_request": PR_REF,
}
ACTIVITY_APPROVAL = {
    "approval": {
        "date": "2019-09-27T00:37:19.849534+00:00",
        "pullrequest": PR_REF,
        "user": EVZIJST,
    },
    "pull_request": PR_REF,
}
ISSUE_SAMPLE = {  # the [S0] sample verbatim: placeholders everywhere
    "type": "<string>",
    "links": {"self": {"href": "<string>", "name": "<string>"}},
    "id": 2154,
    "repository": {"type": "<string>"},
    "title": "<string>",
    "reporter": {"type": "<string>"},
    "assignee": {"type": "<string>"},
    "created_on": "<string>",
    "updated_on": "<string>",
    "edited_on": "<string>",
    "state": "submitted",
    "kind": "bug",
    "priority": "trivial",
    "milestone": {"type": "<string>"},
    "version": {"type": "<string>"},
    "component": {"type": "<string>"},
    "votes": 2154,
    "content": {"raw": "<string>", "markup": "markdown", "html": "<string>"},
}
ISSUE_CHANGE = {
    "changes": {
        "priority": {"new": "trivial", "old": "major"},
        "assignee": {"new": "", "old": "evzijst"},
        "assignee_account_id": {
            "new": "",
            "old": "557058:c0b72ad0-1cb5-4018-9cdc-0cde8492c443",
        },
        "kind": {"new": "enhancement", "old": "bug"},
    },
    "links": {"html": {"href": "https://bitbucket.org/evzijst/dogslow/issues/1#comment-2"}},
    "issue": {"type": "issue", "id": 1, "repository": CONDENSED_REPO, "title": "Updated title"},
    "created_on": "2018-03-03T00:35:28.353630+00:00",
    "user": EVZIJST,
    "message": {
        "raw": "Removed assignee, changed kind and priority.",
        "markup": "markdown",
        "html": "<p>Removed assignee, changed kind and priority.</p>",
        "type": "rendered",
    },
    "type": "issue_change",
    "id": 2,
}
COMMIT = {
    "rendered": {"message": {"raw": "Add a GEORDI_OUTPUT_DIR setting", "type": "rendered"}},
    "hash": "f7591a13eda445d9a9167f98eb870319f4b6c2d8",
    "repository": CONDENSED_REPO,
    "links": {"html": {"href": "https://bitbucket.org/bitbucket/geordi/commits/f7591a13"}},
    "author": {"raw": "Brodie Rao <a@b.c>", "type": "author", "user": BRODIE},
    "summary": {"raw": "Add a GEORDI_OUTPUT_DIR setting", "markup": "markdown", "type": "rendered"},
    "participants": [],
    "parents": [
        {"type": "commit", "hash": "f06941fec4ef6bcb0c2456927a0cf258fa4f899b", "links": {}}
    ],
    "date": "2012-07-16T19:37:54+00:00",
    "message": "Add a GEORDI_OUTPUT_DIR setting",
    "type": "commit",
}
BRANCH = {
    "name": "master",
    "links": {"html": {"href": "https://bitbucket.org/atlassian/aui/branch/master"}},
    "default_merge_strategy": "squash",
    "merge_strategies": ["merge_commit", "squash", "fast_forward"],
    "type": "branch",
    "target": {
        "hash": "e7d158ff7ed5538c28f94cd97a9ad569680fc94e",
        "date": "2021-04-12T06:44:38+00:00",
        "message": "…",
        "type": "commit",
    },
}
TAG = {
    "name": "3.8",
    "type": "tag",
    "links": {"html": {"href": "https://bitbucket.org/seanfarley/hg/commits/tag/3.8"}},
    "target": {"hash": "f7591a13eda445d9a9167f98eb870319f4b6c2d8", "type": "commit"},
    "date": "2016-05-01T20:21:09-07:00",
    "message": "Added tag 3.8",
    "tagger": {"raw": "Sean Farley <sean@example.com>", "type": "author"},
}


def only(rs: rows.RowSet, table: str) -> dict:
    assert len(rs[table]) == 1, rs[table]
    return rs[table][0]


def complete(rs: rows.RowSet, table: str) -> dict:
    """The one row of ``table`` in a row set whose every row is complete."""
    assert_complete(rs)
    return only(rs, table)


def assert_complete(rs: rows.RowSet) -> None:
    """Every row carries exactly its table's data columns (the store adds the frame)."""
    for table, table_rows in rs.items():
        expected = set(TABLES[table].column_names) - {"deleted_at", "synced_at"}
        for row in table_rows:
            assert set(row) == expected, (table, set(row) ^ expected)
            assert row["source"] == SRC
            json.loads(row["json"])


# -- timestamps --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T08:00:00.000000+00:00", "2024-05-01T08:00:00.000000+00:00"),
        ("2024-05-01T10:00:00+02:00", "2024-05-01T08:00:00.000000+00:00"),
        ("2024-05-01T08:00:00Z", "2024-05-01T08:00:00.000000+00:00"),
        ("2024-05-01T08:00:00.5Z", "2024-05-01T08:00:00.500000+00:00"),
        ("2024-05-01T08:00:00.123456789+00:00", "2024-05-01T08:00:00.123456+00:00"),
        ("2024-05-01 08:00:00", "2024-05-01T08:00:00.000000+00:00"),
        ("2024-04-30T22:00:00-10:00", "2024-05-01T08:00:00.000000+00:00"),
        (1714550400000, "2024-05-01T08:00:00.000000+00:00"),
        (1714550400123, "2024-05-01T08:00:00.123000+00:00"),
        (
            datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-01T08:00:00.000000+00:00",
        ),
        (None, None),
        ("", None),
    ],
)
def test_to_utc_normalises_every_bitbucket_format(value, expected):
    assert to_utc(value) == expected


def test_to_utc_output_sorts_as_time():
    values = [
        "2024-05-01T10:00:00+02:00",
        "2024-05-01T07:59:59.999999Z",
        1714550400001,
        "0999-01-01",
    ]
    normalised = [to_utc(v) for v in values]
    assert len({len(v) for v in normalised}) == 1
    assert sorted(normalised) == [
        to_utc(v) for v in ("0999-01-01", values[1], values[0], values[2])
    ]


@given(
    st.lists(
        st.tuples(
            st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
            st.integers(min_value=-12 * 60, max_value=14 * 60),
            st.sampled_from(["iso", "ms", "naive"]),
        ),
        min_size=2,
        max_size=8,
    )
)
def test_to_utc_text_order_is_time_order(moments):
    """Whatever format and offset each value arrives in, sorting the text sorts the times."""
    values, times = [], []
    for naive, offset, form in moments:
        aware = naive.replace(tzinfo=timezone(timedelta(minutes=offset)))
        if form == "iso":
            values.append(aware.isoformat())
        elif form == "ms":
            values.append(int(aware.timestamp() * 1000))
            aware = datetime.fromtimestamp(values[-1] / 1000, UTC)
        else:
            aware = naive.replace(tzinfo=UTC)
            values.append(naive.strftime("%Y-%m-%d %H:%M:%S"))
            aware = aware.replace(microsecond=0)
        times.append(aware)
    texts = [to_utc(v) for v in values]
    assert [datetime.fromisoformat(t) for t in texts] == times
    assert sorted(texts) == [to_utc(t) for t in sorted(times)]


@pytest.mark.parametrize("value", ["<string>", "yesterday", True, [1]])
def test_to_utc_rejects_garbage(value):
    with pytest.raises(RowError):
        to_utc(value)


# -- objects -----------------------------------------------------------------------------


def test_user_reference_example():
    rs = rows.user(BRODIE, source=SRC)
    row = complete(rs, "users")
    assert row["id"] == row["uuid"] == "{9484702e-c663-4afd-aefb-c93a8cd31c28}"
    assert row["account_id"] == "557058:3aae1e05-702a-41e5-81c8-f36f29afb6ca"
    assert (row["nickname"], row["display_name"], row["kind"]) == ("brodie", "Brodie Rao", "user")
    assert row["created_on"] is None
    assert rebuild(json.loads(row["json"])) == BRODIE


def test_workspace_example():
    row = only(cloud_rows.workspace(WORKSPACE, source=SRC), "workspaces")
    assert row["id"] == "{a15fb181-db1f-48f7-b41f-e1eff06929d6}"
    assert (row["slug"], row["name"], row["is_private"]) == (
        "bbworkspace1",
        "Atlassian Bitbucket",
        1,
    )
    assert row["created_on"] == "2018-11-14T19:15:05.058566+00:00"
    assert row["updated_on"] is None
    assert rebuild(json.loads(row["json"])) == WORKSPACE


def test_member_links_workspace_and_user():
    obj = {
        "type": "workspace_membership",
        "user": BRODIE,
        "workspace": WORKSPACE,
        "permission": "owner",
        "added_on": "2020-01-01T00:00:00+00:00",
    }
    rs = cloud_rows.member(obj, source=SRC)
    row = complete(rs, "workspace_members")
    assert row["workspace_id"] == WORKSPACE["uuid"]
    assert row["user_id"] == BRODIE["uuid"]
    assert row["id"] == f"{WORKSPACE['uuid']}/{BRODIE['uuid']}"
    assert row["permission"] == "owner"
    assert only(rs, "users")["id"] == BRODIE["uuid"]


def test_repository_examples_condensed_and_full():
    row = only(cloud_rows.repository(CONDENSED_REPO, source=SRC), "repositories")
    assert (row["id"], row["slug"], row["full_name"], row["name"]) == (
        REPO,
        "dogslow",
        "evzijst/dogslow",
        "dogslow",
    )
    full = {
        **CONDENSED_REPO,
        "slug": "dogslow-renamed",
        "owner": EVZIJST,
        "workspace": {"type": "workspace", "uuid": WORKSPACE["uuid"], "slug": "evzijst"},
        "project": {"type": "project", "uuid": "{p1}", "key": "PROJ"},
        "mainbranch": {"name": "master", "type": "branch"},
        "is_private": False,
        "has_issues": True,
        "size": 1024,
        "created_on": "2011-12-20T16:35:06.480042+00:00",
        "updated_on": "2012-03-01T10:00:00+01:00",
    }
    rs = cloud_rows.repository(full, source=SRC)
    row = complete(rs, "repositories")
    assert row["id"] == REPO  # the uuid, never the (renamed) slug
    assert row["slug"] == "dogslow-renamed"
    assert (row["workspace_id"], row["project_id"], row["owner_id"]) == (
        WORKSPACE["uuid"],
        "{p1}",
        EVZIJST["uuid"],
    )
    assert (row["mainbranch"], row["is_private"], row["has_issues"], row["size"]) == (
        "master",
        0,
        1,
        1024,
    )
    assert row["updated_on"] == "2012-03-01T09:00:00.000000+00:00"


def test_pullrequest_example():
    rs = cloud_rows.pullrequest(PR, source=SRC, repository_id=REPO)
    row = complete(rs, "pullrequests")
    assert row["id"] == f"{REPO}/pr/1"
    assert row["number"] == 1
    assert row["title"] == "Change a cooperative standard to a smiling disease"
    assert row["description"] == "Everything is awesome!"
    assert row["description_html"] == "<p>Everything is awesome!</p>"
    assert row["state"] == "OPEN"
    assert row["author_id"] == BRODIE["uuid"]
    assert (row["source_branch"], row["source_commit"]) == (
        "branch_magnificent_internet",
        "c184aab5708b",
    )
    assert (row["destination_branch"], row["destination_commit"]) == ("master", "230269fdfabd")
    assert row["source_repository_id"] == row["destination_repository_id"] == REPO
    assert row["merge_commit"] is None and row["closed_by_id"] is None
    assert (row["comment_count"], row["task_count"], row["close_source_branch"]) == (0, 0, 1)
    assert row["created_on"] == "2018-06-20T23:17:33.616037+00:00"
    assert row["closed_on"] is None
    assert rebuild(json.loads(row["json"])) == PR
    part = only(rs, "pullrequest_participants")
    assert part["id"] == f"{REPO}/pr/1/{EVZIJST['uuid']}"
    assert (part["role"], part["is_reviewer"], part["approved"], part["state"]) == (
        "REVIEWER",
        1,
        1,
        "approved",
    )
    assert part["participated_on"] == "2018-06-21T08:00:00.000001+00:00"
    assert {u["id"] for u in rs["users"]} == {BRODIE["uuid"], EVZIJST["uuid"]}


def test_pullrequest_from_a_list_has_no_participant_rows_and_reviewers_fill_in():
    listed = {k: v for k, v in PR.items() if k not in ("reviewers", "participants")}
    assert "pullrequest_participants" not in cloud_rows.pullrequest(
        listed, source=SRC, repository_id=REPO
    )
    only_reviewers = {**listed, "reviewers": [BRODIE]}
    part = only(
        cloud_rows.pullrequest(only_reviewers, source=SRC, repository_id=REPO),
        "pullrequest_participants",
    )
    assert (part["user_id"], part["role"], part["is_reviewer"], part["approved"]) == (
        BRODIE["uuid"],
        "REVIEWER",
        1,
        0,
    )


def test_pr_comment_example():
    rs = cloud_rows.pr_comment(PR_COMMENT, source=SRC, repository_id=REPO)
    row = complete(rs, "comments")
    assert row["id"] == "cloud/comment/118571088"
    assert row["comment_id"] == 118571088
    assert (row["kind"], row["pullrequest_id"], row["issue_id"]) == (
        "pullrequest",
        f"{REPO}/pr/5695",
        None,
    )
    assert row["body"] == "inline with to a dn from lines"
    assert row["body_html"] == "<p>inline with to a dn from lines</p>"
    assert (row["inline_path"], row["inline_from"], row["inline_to"]) == (None, 211, None)
    assert (row["deleted"], row["parent_id"], row["user_id"]) == (0, None, BRODIE["uuid"])
    assert row["updated_on"] == "2019-09-27T00:33:46.055384+00:00"
    reply = {**PR_COMMENT, "id": 5, "parent": {"id": 118571088}, "deleted": True}
    assert only(cloud_rows.pr_comment(reply, source=SRC, repository_id=REPO), "comments")[
        "parent_id"
    ] == ("cloud/comment/118571088")


def test_pr_activity_examples():
    com = cloud_rows.pr_activity(ACTIVITY_COMMENT, source=SRC, repository_id=REPO)
    upd = cloud_rows.pr_activity(ACTIVITY_UPDATE, source=SRC, repository_id=REPO)
    app = cloud_rows.pr_activity(ACTIVITY_APPROVAL, source=SRC, repository_id=REPO)
    for rs in (com, upd, app):
        assert_complete(rs)
    c, u, a = (only(rs, "pullrequest_activity") for rs in (com, upd, app))
    assert {c["pullrequest_id"], u["pullrequest_id"], a["pullrequest_id"]} == {f"{REPO}/pr/5695"}
    assert (c["kind"], c["date"], c["comment_id"], c["user_id"]) == (
        "comment",
        "2019-09-27T00:33:46.039178+00:00",
        "cloud/comment/118571088",
        BRODIE["uuid"],
    )
    assert (u["kind"], u["state"], u["date"], u["destination_commit"], u["source_commit"]) == (
        "update",
        "OPEN",
        "2019-05-10T06:48:25.305565+00:00",
        "6a2c16e4a152",
        "aaaabbbbcccc",
    )
    assert (a["kind"], a["user_id"], a["state"]) == ("approval", EVZIJST["uuid"], None)
    assert len({c["id"], u["id"], a["id"]}) == 3
    # the synthesised key is stable: the same entry gives the same id
    again = cloud_rows.pr_activity(copy.deepcopy(ACTIVITY_APPROVAL), source=SRC, repository_id=REPO)
    assert only(again, "pullrequest_activity")["id"] == a["id"]
    assert rebuild(json.loads(a["json"])) == ACTIVITY_APPROVAL


def test_unknown_activity_kind_is_kept():
    obj = {"task_created": {"date": "2020-01-01T00:00:00Z", "user": BRODIE}, "pull_request": PR_REF}
    row = only(cloud_rows.pr_activity(obj, source=SRC, repository_id=REPO), "pullrequest_activity")
    assert (row["kind"], row["date"]) == ("task_created", "2020-01-01T00:00:00.000000+00:00")


def test_issue_example_with_real_values():
    obj = {
        **ISSUE_SAMPLE,
        "type": "issue",
        "title": "Crash on start",
        "reporter": BRODIE,
        "assignee": None,
        "created_on": "2018-03-03T00:35:28.353630+00:00",
        "updated_on": "2018-03-04T01:00:00+01:00",
        "edited_on": None,
        "milestone": {"type": "milestone", "name": "M1", "id": 7},
        "version": None,
        "component": {"type": "component", "name": "UI", "id": 3},
        "content": {
            "raw": "It *crashes*",
            "markup": "markdown",
            "html": "<p>It <em>crashes</em></p>",
        },
    }
    rs = cloud_issues.issue(obj, source=SRC, repository_id=REPO)
    row = complete(rs, "issues")
    assert (row["id"], row["number"], row["origin"]) == (f"{REPO}/issue/2154", 2154, "api")
    assert (row["state"], row["kind"], row["priority"], row["votes"]) == (
        "submitted",
        "bug",
        "trivial",
        2154,
    )
    assert (row["content"], row["content_html"], row["markup"]) == (
        "It *crashes*",
        "<p>It <em>crashes</em></p>",
        "markdown",
    )
    assert (row["reporter_id"], row["assignee_id"]) == (BRODIE["uuid"], None)
    assert (row["milestone_id"], row["milestone_name"]) == (f"{REPO}/milestone/7", "M1")
    assert (row["version_id"], row["version_name"]) == (None, None)
    assert (row["component_id"], row["component_name"]) == (f"{REPO}/component/3", "UI")
    assert row["updated_on"] == "2018-03-04T00:00:00.000000+00:00"
    assert row["edited_on"] is None
    assert rebuild(json.loads(row["json"])) == obj


def test_issue_verbatim_sample_with_placeholder_times_is_quarantined():
    with pytest.raises(RowError, match="created_on"):
        cloud_issues.issue(ISSUE_SAMPLE, source=SRC, repository_id=REPO)


def test_issue_change_example_gives_one_item_per_field():
    rs = cloud_issues.issue_change(ISSUE_CHANGE, source=SRC, repository_id=REPO)
    change = complete(rs, "issue_changes")
    assert change["id"] == f"{REPO}/issue/1/change/2"
    assert (change["change_id"], change["issue_id"], change["user_id"]) == (
        2,
        f"{REPO}/issue/1",
        EVZIJST["uuid"],
    )
    assert change["message"] == "Removed assignee, changed kind and priority."
    assert change["created_on"] == "2018-03-03T00:35:28.353630+00:00"
    assert json.loads(change["changes"]) == ISSUE_CHANGE["changes"]
    items = {i["field"]: i for i in rs["issue_change_items"]}
    assert set(items) == {"priority", "assignee", "assignee_account_id", "kind"}
    assert (items["priority"]["old"], items["priority"]["new"]) == ("major", "trivial")
    assert (items["assignee"]["old"], items["assignee"]["new"]) == ("evzijst", None)
    assert items["kind"]["id"] == f"{REPO}/issue/1/change/2/kind"
    assert {i["change_id"] for i in items.values()} == {change["id"]}
    assert {i["created_on"] for i in items.values()} == {change["created_on"]}


def test_issue_comment_takes_issue_from_context_or_object():
    obj = {**PR_COMMENT, "type": "issue_comment", "issue": {"id": 9}}
    del obj["pullrequest"]
    row = only(cloud_issues.issue_comment(obj, source=SRC, repository_id=REPO), "comments")
    assert (row["kind"], row["issue_id"], row["pullrequest_id"]) == (
        "issue",
        f"{REPO}/issue/9",
        None,
    )
    row = only(
        cloud_issues.issue_comment(obj, source=SRC, repository_id=REPO, issue_id="X"), "comments"
    )
    assert row["issue_id"] == "X"


def test_commit_example():
    rs = cloud_git.commit(COMMIT, source=SRC, repository_id=REPO)
    row = complete(rs, "commits")
    sha = "f7591a13eda445d9a9167f98eb870319f4b6c2d8"
    assert (row["id"], row["hash"]) == (f"{REPO}/{sha}", sha)
    assert (row["author_raw"], row["author_name"], row["author_email"], row["author_id"]) == (
        "Brodie Rao <a@b.c>",
        "Brodie Rao",
        "a@b.c",
        BRODIE["uuid"],
    )
    assert row["date"] == "2012-07-16T19:37:54.000000+00:00"
    assert (row["message"], row["parent_count"]) == ("Add a GEORDI_OUTPUT_DIR setting", 1)
    parent = only(rs, "commit_parents")
    assert (parent["commit_id"], parent["parent_hash"], parent["position"]) == (
        row["id"],
        "f06941fec4ef6bcb0c2456927a0cf258fa4f899b",
        0,
    )
    assert parent["parent_id"] == f"{REPO}/f06941fec4ef6bcb0c2456927a0cf258fa4f899b"


def test_commit_without_bitbucket_user_keeps_raw_author():
    obj = {
        "hash": "abc1234",
        "author": {"raw": "nobody@example.com"},
        "date": "2020-01-01T00:00:00+00:00",
    }
    row = only(cloud_git.commit(obj, source=SRC, repository_id=REPO), "commits")
    assert (row["author_raw"], row["author_id"], row["parent_count"]) == (
        "nobody@example.com",
        None,
        0,
    )


def test_pr_commit_link_writes_link_and_commit():
    rs = cloud_git.pr_commit_link(
        COMMIT, source=SRC, repository_id=REPO, pullrequest_id=f"{REPO}/pr/1"
    )
    link = complete(rs, "pullrequest_commits")
    assert link["id"] == f"{REPO}/pr/1/{COMMIT['hash']}"
    assert link["commit_id"] == only(rs, "commits")["id"]


def test_commit_status():
    obj = {  # real statuses carry no uuid (issue 12.1)
        "type": "build",
        "key": "CI",
        "state": "SUCCESSFUL",
        "name": "build #1",
        "url": "https://ci.example/1",
        "refname": None,
        "created_on": "2020-01-01T00:00:00+00:00",
        "updated_on": "2020-01-01T00:05:00+00:00",
        "links": {
            "commit": {
                "href": f"https://api.bitbucket.org/2.0/repositories/a/b/commit/{COMMIT['hash']}"
            }
        },
    }
    rs = cloud_git.commit_status(obj, source=SRC, repository_id=REPO)
    row = complete(rs, "commit_statuses")
    assert (row["id"], row["key"], row["state"], row["commit_hash"]) == (
        f"{REPO}/{COMMIT['hash']}/status/CI",
        "CI",
        "SUCCESSFUL",
        COMMIT["hash"],
    )
    assert row["commit_id"] == f"{REPO}/{COMMIT['hash']}"


def test_branch_example():
    rs = cloud_git.branch(BRANCH, source=SRC, repository_id=REPO)
    assert_complete(rs)
    assert set(rs) == {"branches"}  # the target commit is the commit stream's job
    row = only(rs, "branches")
    assert (row["id"], row["name"], row["target_hash"]) == (
        f"{REPO}/branch/master",
        "master",
        "e7d158ff7ed5538c28f94cd97a9ad569680fc94e",
    )
    assert row["target_id"] == f"{REPO}/e7d158ff7ed5538c28f94cd97a9ad569680fc94e"


def test_tag():
    rs = cloud_git.tag(TAG, source=SRC, repository_id=REPO)
    row = complete(rs, "tags")
    assert (row["id"], row["target_hash"], row["message"]) == (
        f"{REPO}/tag/3.8",
        COMMIT["hash"],
        "Added tag 3.8",
    )
    assert row["date"] == "2016-05-02T03:21:09.000000+00:00"
    assert (row["tagger_raw"], row["tagger_id"]) == ("Sean Farley <sean@example.com>", None)


def test_milestone_version_component_and_attachment():
    named = {"type": "milestone", "links": {}, "name": "M1", "id": 2154}
    for fn, table, kind in (
        (cloud_issues.milestone, "milestones", "milestone"),
        (cloud_issues.version, "versions", "version"),
        (cloud_issues.component, "components", "component"),
    ):
        row = only(fn(named, source=SRC, repository_id=REPO), table)
        assert (row["id"], row["api_id"], row["name"]) == (f"{REPO}/{kind}/2154", 2154, "M1")
    att = cloud_issues.issue_attachment(
        {"type": "issue_attachment", "name": "log.txt", "links": {}},
        source=SRC,
        repository_id=REPO,
        issue_id=f"{REPO}/issue/1",
        content=b"hello",
    )
    assert_complete(att)
    row = only(att, "issue_attachments")
    assert (row["id"], row["content"], row["size"]) == (
        f"{REPO}/issue/1/attachment/log.txt",
        b"hello",
        5,
    )


# -- sanitised and broken objects --------------------------------------------------------


def test_sanitised_empty_uuid_does_not_crash():
    anon = {"type": "user", "uuid": "{}", "account_id": "", "display_name": "x"}
    by_account = {"type": "user", "uuid": "{}", "account_id": "557058:abc"}
    pr = {
        **PR,
        "author": anon,
        "participants": [{"user": anon, "role": "PARTICIPANT"}],
        "reviewers": [anon],
    }
    rs = cloud_rows.pullrequest(pr, source=SRC, repository_id=REPO)
    assert only(rs, "pullrequests")["author_id"] is None
    assert "users" not in rs and "pullrequest_participants" not in rs
    row = only(
        cloud_git.commit(
            {**COMMIT, "author": {"raw": "x <y>", "user": by_account}},
            source=SRC,
            repository_id=REPO,
        ),
        "users",
    )
    assert row["id"] == "account_id:557058:abc" and row["uuid"] is None


def test_missing_optional_keys_do_not_crash():
    rs = cloud_rows.pullrequest({"id": 3}, source=SRC, repository_id=REPO)
    assert only(rs, "pullrequests")["title"] is None
    assert (
        only(cloud_git.commit({"hash": "abc"}, source=SRC, repository_id=REPO), "commits")["date"]
        is None
    )
    assert (
        only(cloud_issues.issue({"id": 1}, source=SRC, repository_id=REPO), "issues")["state"]
        is None
    )
    assert only(
        cloud_issues.issue_change({"id": 1, "issue": {"id": 1}}, source=SRC, repository_id=REPO),
        "issue_changes",
    )
    assert cloud_rows.repository({"uuid": "{r}"}, source=SRC)["repositories"][0]["slug"] is None


@pytest.mark.parametrize(
    ("fn", "obj", "field"),
    [
        (cloud_rows.pullrequest, {k: v for k, v in PR.items() if k != "id"}, "'id'"),
        (cloud_issues.issue, {"title": "x"}, "'id'"),
        (cloud_git.commit, {"message": "x"}, "'hash'"),
        (cloud_rows.pr_comment, {"content": {"raw": "x"}, "pullrequest": {"id": 1}}, "'id'"),
        (cloud_issues.issue_change, {"id": 1}, "'issue'"),
        (cloud_git.branch, {"target": {"hash": "abc"}}, "'name'"),
        (cloud_rows.pr_activity, {"pull_request": PR_REF}, "payload"),
        (cloud_issues.milestone, {"name": "M"}, "'id'"),
    ],
)
def test_missing_required_key_raises_row_error_naming_it(fn, obj, field):
    with pytest.raises(RowError, match=field):
        fn(obj, source=SRC, repository_id=REPO)


def test_missing_uuid_on_top_level_objects_raises():
    for fn in (cloud_rows.workspace, rows.user, cloud_rows.project):
        with pytest.raises(RowError, match="uuid"):
            fn({"uuid": "{}", "name": "x"}, source=SRC)
    with pytest.raises(RowError):
        cloud_rows.pullrequest("not an object", source=SRC, repository_id=REPO)  # type: ignore[arg-type]


def test_combine_and_ids_of():
    rs = rows.combine(
        cloud_git.commit(COMMIT, source=SRC, repository_id=REPO),
        cloud_git.branch(BRANCH, source=SRC, repository_id=REPO),
    )
    assert set(rs) == {"commits", "commit_parents", "users", "branches"}
    assert rows.ids_of(rs, "branches") == {f"{REPO}/branch/master"}


def test_rowcheck_names_values_sqlite_cannot_hold():
    good = {"t": [{"a": None, "b": 1, "c": 1.5, "d": "x", "e": b"y", "f": True}]}
    assert rowcheck.check(good) is good
    for bad, words in (
        (2**63, "beyond 64 bits"),
        (-(2**63) - 1, "beyond 64 bits"),
        ("a \ud800 b", "lone surrogate"),
        ({"raw": "x"}, "JSON object"),
        ([1, 2], "JSON array"),
    ):
        with pytest.raises(rows.RowError, match=words):
            rowcheck.check({"pullrequests": [{"id": "p", "title": bad}]})


def test_quarantine_payload_of_any_depth_is_bounded_json():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    text = rowcheck.payload_text({"title": deep})
    assert json.loads(text)["unserialisable"] == "RecursionError"
    assert len(text) < 1000
    assert rowcheck.payload_text({"t": "a \ud800"}).isascii()
    assert rowcheck.safe_text("a \ud800").encode("utf-8")
