"""Data Center objects -> rows: the keys, the Cloud meanings and the refusals of each transform.

Payload shapes follow reference/bitbucket-server.md; the simulator and the captured payloads in
test_real_payloads.py cover whole responses, these pin each rule of the mapping.
"""

from __future__ import annotations

import json

import pytest

from bbmirror.flavours.server import rows as rs
from bbmirror.flavours.server import rows_git
from bbmirror.rows import RowError

SRC = "dc"
REPO = "dc/repo/7"
PR = "dc/repo/7/pr/3"
MS = 1_530_767_470_000  # 2018-07-05T05:11:10Z
MS_UTC = "2018-07-05T05:11:10.000000+00:00"


def _user(uid: int = 5, **extra) -> dict:
    return {
        "id": uid,
        "name": f"user{uid}",
        "slug": f"user{uid}",
        "displayName": f"User {uid}",
        "emailAddress": f"user{uid}@example.com",
        "type": "NORMAL",
        **extra,
    }


def _only(rowset: dict, table: str) -> dict:
    assert len(rowset[table]) == 1, rowset[table]
    return rowset[table][0]


def test_users_are_keyed_by_source_and_numeric_id() -> None:
    row = _only(rs.user(_user(5, active=False), source=SRC), "users")
    assert row["id"] == "dc/user/5"
    assert (row["username"], row["nickname"], row["display_name"]) == ("user5", "user5", "User 5")
    assert (row["email"], row["kind"], row["account_status"]) == (
        "user5@example.com",
        "NORMAL",
        "inactive",
    )
    assert json.loads(row["json"])["id"] == 5
    assert rs.user_key(SRC, {"id": "5"}) is None  # a slug-like id is no key


def test_a_user_without_a_numeric_id_is_refused() -> None:
    with pytest.raises(RowError, match="numeric 'id'"):
        rs.user({"name": "ghost"}, source=SRC)
    with pytest.raises(RowError, match="not a JSON object"):
        rs.user(["not", "an", "object"], source=SRC)  # type: ignore[arg-type]


def test_project_visibility_and_a_personal_projects_description() -> None:
    public = _only(rs.project({"id": 1, "key": "PRJ", "public": True}, source=SRC), "projects")
    assert (public["id"], public["key"], public["is_private"]) == ("dc/project/1", "PRJ", 0)
    unknown = _only(rs.project({"id": 2, "key": "P2"}, source=SRC), "projects")
    assert unknown["is_private"] is None  # not sent: not guessed
    personal = rs.project(
        {"id": 3, "key": "~USER5", "description": "mine", "owner": _user(5)}, source=SRC
    )
    assert _only(personal, "projects")["description"] is None
    assert _only(personal, "users")["id"] == "dc/user/5"
    with pytest.raises(RowError, match="project has no 'id'"):
        rs.project({"key": "X"}, source=SRC)


def test_repository_carries_its_project_and_never_an_issue_tracker() -> None:
    obj = {
        "id": 7,
        "slug": "api",
        "name": "API",
        "scmId": "git",
        "public": False,
        "project": {"id": 1, "key": "PRJ"},
    }
    rowset = rs.repository(obj, source=SRC)
    repo = _only(rowset, "repositories")
    assert repo["id"] == REPO == rs.repository_key(SRC, 7)
    assert (repo["full_name"], repo["project_id"], repo["scm"]) == (
        "PRJ/api",
        "dc/project/1",
        "git",
    )
    assert (repo["is_private"], repo["has_issues"]) == (1, 0)
    assert _only(rowset, "projects")["id"] == "dc/project/1"
    bare = _only(rs.repository({"id": 8, "slug": "solo"}, source=SRC), "repositories")
    assert (bare["full_name"], bare["project_id"]) == ("solo", None)


def _pr(**extra) -> dict:
    return {
        "id": 3,
        "version": 2,
        "title": "PRJ-12 faster builds",
        "description": "Also fixes OPS-7.",
        "state": "MERGED",
        "draft": False,
        "createdDate": MS,
        "updatedDate": MS + 1000,
        "closedDate": MS + 2000,
        "author": {"user": _user(5), "role": "AUTHOR", "approved": False},
        "fromRef": {
            "displayId": "feature/PRJ-13-cache",
            "latestCommit": "a" * 40,
            "repository": {"id": 7},
        },
        "toRef": {"displayId": "master", "latestCommit": "b" * 40, "repository": {"id": 7}},
        "properties": {"commentCount": 4, "openTaskCount": 1, "mergeCommit": {"id": "c" * 40}},
        "reviewers": [
            {"user": _user(6), "approved": True, "status": "APPROVED"},
            {"user": _user(7), "approved": False, "status": "NEEDS_WORK"},
        ],
        "participants": [{"user": _user(8), "approved": False, "status": "UNAPPROVED"}],
        **extra,
    }


def test_pullrequest_maps_refs_counts_and_times() -> None:
    rowset = rs.pullrequest(_pr(), source=SRC, repository_id=REPO)
    pr = _only(rowset, "pullrequests")
    assert (pr["id"], pr["number"], pr["state"], pr["version"]) == (PR, 3, "MERGED", 2)
    assert pr["author_id"] == "dc/user/5"
    assert (pr["source_branch"], pr["source_commit"], pr["source_repository_id"]) == (
        "feature/PRJ-13-cache",
        "a" * 40,
        REPO,
    )
    assert (pr["destination_branch"], pr["merge_commit"]) == ("master", "c" * 40)
    assert (pr["comment_count"], pr["task_count"], pr["draft"]) == (4, 1, 0)
    assert pr["created_on"] == MS_UTC
    assert pr["updated_on"] == "2018-07-05T05:11:11.000000+00:00"
    assert pr["closed_on"] == "2018-07-05T05:11:12.000000+00:00"
    # Each embedded user once, however often they appear.
    users = [row["id"] for row in rowset["users"]]
    assert sorted(users) == ["dc/user/5", "dc/user/6", "dc/user/7", "dc/user/8"]


def test_an_open_pr_has_no_close_time_and_counts_default_to_zero() -> None:
    obj = _pr(state="OPEN", properties={})
    pr = _only(rs.pullrequest(obj, source=SRC, repository_id=REPO), "pullrequests")
    assert (pr["closed_on"], pr["comment_count"], pr["task_count"]) == (None, 0, 0)
    assert pr["merge_commit"] is None


def test_review_status_takes_clouds_meaning() -> None:
    rowset = rs.pullrequest(_pr(), source=SRC, repository_id=REPO)
    parts = {row["user_id"]: row for row in rowset["pullrequest_participants"]}
    assert parts["dc/user/6"]["id"] == f"{PR}/dc/user/6"
    assert (parts["dc/user/6"]["approved"], parts["dc/user/6"]["state"]) == (1, "approved")
    assert parts["dc/user/7"]["state"] == "changes_requested"
    assert parts["dc/user/8"]["state"] is None  # UNAPPROVED is no review
    reviewer = {uid for uid, row in parts.items() if row["is_reviewer"]}
    assert reviewer == {"dc/user/6", "dc/user/7"}
    assert parts["dc/user/8"]["role"] == "PARTICIPANT"


def test_jira_keys_in_title_description_and_branch_become_links() -> None:
    rowset = rs.pullrequest(_pr(), source=SRC, repository_id=REPO)
    links = {row["id"]: row for row in rowset["jira_links"]}
    assert set(links) == {f"{PR}/jira/text/{k}" for k in ("OPS-7", "PRJ-12", "PRJ-13")}
    assert {row["found_in"] for row in links.values()} == {"text"}
    assert all(row["pullrequest_id"] == PR and row["commit_id"] is None for row in links.values())
    assert rs.jira_keys("see abc-1, A-1 and PRJ-9, PRJ-9 again") == ["PRJ-9"]
    assert rs.jira_keys(None) == []


def test_a_pr_with_a_bad_number_or_time_is_refused() -> None:
    with pytest.raises(RowError, match="pull request has no 'id'"):
        rs.pullrequest(_pr(id=None), source=SRC, repository_id=REPO)
    with pytest.raises(RowError, match="not an integer"):
        rs.pullrequest(_pr(id="three"), source=SRC, repository_id=REPO)
    with pytest.raises(RowError, match="'createdDate' is neither epoch milliseconds"):
        rs.pullrequest(_pr(createdDate=True), source=SRC, repository_id=REPO)
    with pytest.raises(RowError, match="'updatedDate': not a timestamp"):
        rs.pullrequest(_pr(updatedDate="yesterday"), source=SRC, repository_id=REPO)


def test_iso_text_times_of_newer_releases_equal_epoch_milliseconds() -> None:
    obj = _pr(createdDate="2018-07-05T05:11:10+0000")
    pr = _only(rs.pullrequest(obj, source=SRC, repository_id=REPO), "pullrequests")
    assert pr["created_on"] == MS_UTC


def _commented(action: str = "ADDED") -> dict:
    reply = {"id": 12, "text": "Agreed", "author": _user(6), "createdDate": MS, "comments": []}
    root = {
        "id": 11,
        "version": 1,
        "text": "Why?",
        "author": _user(5),
        "createdDate": MS,
        "updatedDate": MS,
        "state": "OPEN",
        "severity": "NORMAL",
        "anchor": {"path": "src/app.py", "line": 9, "fileType": "TO"},
        "comments": [reply],
    }
    return {
        "id": 40,
        "createdDate": MS,
        "user": _user(5),
        "action": "COMMENTED",
        "commentAction": action,
        "comment": root,
    }


def test_a_commented_activity_brings_its_whole_thread() -> None:
    rowset = rs.activity(_commented(), source=SRC, repository_id=REPO, pullrequest_id=PR)
    act = _only(rowset, "pullrequest_activity")
    assert (act["id"], act["kind"], act["comment_id"]) == (
        f"{PR}/activity/40",
        "comment",
        "dc/comment/11",
    )
    assert (act["date"], act["user_id"], act["activity_id"]) == (MS_UTC, "dc/user/5", 40)
    comments = {row["id"]: row for row in rowset["comments"]}
    assert set(comments) == {"dc/comment/11", "dc/comment/12"}
    root, reply = comments["dc/comment/11"], comments["dc/comment/12"]
    assert (root["parent_id"], reply["parent_id"]) == (None, "dc/comment/11")
    assert (root["inline_path"], root["inline_to"], root["inline_from"]) == ("src/app.py", 9, None)
    assert (reply["inline_path"], reply["inline_to"]) == (None, None)
    assert (root["body"], root["user_id"], root["kind"]) == ("Why?", "dc/user/5", "pullrequest")
    assert all(row["pullrequest_id"] == PR and row["deleted"] == 0 for row in comments.values())
    assert "comments" not in json.loads(root["json"])  # replies are rows of their own


def test_an_anchor_on_the_old_side_is_inline_from() -> None:
    obj = _commented()
    obj["comment"]["anchor"] = {"path": "a.py", "line": 4, "fileType": "FROM"}
    rowset = rs.activity(obj, source=SRC, repository_id=REPO, pullrequest_id=PR)
    root = next(row for row in rowset["comments"] if row["id"] == "dc/comment/11")
    assert (root["inline_from"], root["inline_to"]) == (4, None)


def test_a_deleted_comment_activity_adds_no_comment_rows() -> None:
    rowset = rs.activity(_commented("DELETED"), source=SRC, repository_id=REPO, pullrequest_id=PR)
    assert "comments" not in rowset
    assert _only(rowset, "pullrequest_activity")["comment_id"] == "dc/comment/11"


@pytest.mark.parametrize(
    "action, kind, state",
    [
        ("OPENED", "update", "OPEN"),
        ("RESCOPED", "update", None),
        ("MERGED", "update", "MERGED"),
        ("DECLINED", "update", "DECLINED"),
        ("REOPENED", "update", "OPEN"),
        ("APPROVED", "approval", None),
        ("REVIEWED", "changes_requested", None),
        ("UNAPPROVED", "unapproval", None),
        ("AUTO_MERGE_REQUESTED", "auto_merge_requested", None),  # unknown: kept, lowercased
    ],
)
def test_activity_actions_take_clouds_kinds(action: str, kind: str, state: str | None) -> None:
    obj = {"id": 41, "createdDate": MS, "user": _user(5), "action": action, "fromHash": "f" * 40}
    act = _only(
        rs.activity(obj, source=SRC, repository_id=REPO, pullrequest_id=PR),
        "pullrequest_activity",
    )
    assert (act["kind"], act["state"], act["source_commit"]) == (kind, state, "f" * 40)
    assert json.loads(act["json"])["action"] == action  # the raw action stays


def test_an_activity_without_an_action_is_refused() -> None:
    with pytest.raises(RowError, match="activity has no 'action'"):
        rs.activity({"id": 1}, source=SRC, repository_id=REPO, pullrequest_id=PR)


def _commit(**extra) -> dict:
    return {
        "id": "d" * 40,
        "displayId": "d" * 11,
        "message": "PRJ-12: cache the build",
        "author": _user(5),
        "authorTimestamp": MS,
        "committer": {"name": "ci", "emailAddress": "ci@example.com"},
        "committerTimestamp": MS + 1000,
        "parents": [{"id": "e" * 40}, {"id": "f" * 40}],
        **extra,
    }


def test_commit_rows_parents_and_jira_keys_in_the_message() -> None:
    rowset = rows_git.commit(_commit(), source=SRC, repository_id=REPO)
    row = _only(rowset, "commits")
    assert row["id"] == f"{REPO}/{'d' * 40}"
    assert row["author_raw"] == "User 5 <user5@example.com>"  # a known user: display name
    assert (row["author_id"], row["committer_raw"]) == ("dc/user/5", "ci <ci@example.com>")
    assert (row["date"], row["parent_count"]) == (MS_UTC, 2)
    parents = sorted(rowset["commit_parents"], key=lambda p: p["position"])
    assert [(p["parent_hash"], p["position"]) for p in parents] == [("e" * 40, 0), ("f" * 40, 1)]
    assert {p["commit_id"] for p in parents} == {row["id"]}
    assert parents[0]["parent_id"] == f"{REPO}/{'e' * 40}"
    link = _only(rowset, "jira_links")
    assert (link["id"], link["found_in"]) == (f"{row['id']}/jira/message/PRJ-12", "message")
    assert (link["commit_id"], link["pullrequest_id"]) == (row["id"], None)


def test_a_commit_by_a_stranger_keeps_the_git_identity() -> None:
    obj = _commit(author={"name": "Ann", "emailAddress": "ann@example.com"}, parents=[])
    rowset = rows_git.commit(obj, source=SRC, repository_id=REPO)
    row = _only(rowset, "commits")
    assert (row["author_raw"], row["author_id"], row["parent_count"]) == (
        "Ann <ann@example.com>",
        None,
        0,
    )
    assert "commit_parents" not in rowset and "users" not in rowset
    with pytest.raises(RowError, match="commit has no 'id'"):
        rows_git.commit({"message": "x"}, source=SRC, repository_id=REPO)


def test_a_pr_commit_links_the_pr_to_the_commit() -> None:
    rowset = rows_git.pr_commit_link(_commit(), source=SRC, repository_id=REPO, pullrequest_id=PR)
    link = _only(rowset, "pullrequest_commits")
    assert (link["id"], link["commit_id"], link["hash"]) == (
        f"{PR}/{'d' * 40}",
        f"{REPO}/{'d' * 40}",
        "d" * 40,
    )
    assert _only(rowset, "commits")["id"] == link["commit_id"]


def test_a_jira_issue_of_the_integration_is_a_jira_link() -> None:
    obj = {"key": "PRJ-12", "url": "https://jira.example.com/browse/PRJ-12"}
    row = _only(
        rs.pr_jira_issue(obj, source=SRC, repository_id=REPO, pullrequest_id=PR), "jira_links"
    )
    assert (row["id"], row["found_in"], row["url"]) == (
        f"{PR}/jira/jira/PRJ-12",
        "jira",
        obj["url"],
    )
    with pytest.raises(RowError, match="Jira issue has no 'key'"):
        rs.pr_jira_issue({"url": "x"}, source=SRC, repository_id=REPO, pullrequest_id=PR)


def test_branches_and_tags_point_at_their_latest_commit() -> None:
    obj = {
        "id": "refs/heads/main",
        "displayId": "main",
        "latestCommit": "a" * 40,
        "isDefault": True,
    }
    branch = _only(rows_git.ref(obj, source=SRC, repository_id=REPO, kind="branch"), "branches")
    assert (branch["id"], branch["target_id"], branch["is_default"]) == (
        f"{REPO}/branch/main",
        f"{REPO}/{'a' * 40}",
        1,
    )
    tag = _only(
        rows_git.ref(
            {"displayId": "v1", "latestCommit": None}, source=SRC, repository_id=REPO, kind="tag"
        ),
        "tags",
    )
    assert (tag["id"], tag["target_hash"], tag["target_id"]) == (f"{REPO}/tag/v1", None, None)
    assert "is_default" not in tag
    with pytest.raises(RowError, match="branch has no 'displayId'"):
        rows_git.ref({"id": "refs/heads/x"}, source=SRC, repository_id=REPO, kind="branch")


def test_a_build_status_without_an_update_time_was_updated_when_added() -> None:
    obj = {"key": "ci/build", "state": "SUCCESSFUL", "name": "CI", "dateAdded": MS, "ref": "main"}
    row = _only(
        rows_git.build_status(obj, source=SRC, repository_id=REPO, commit_hash="d" * 40),
        "commit_statuses",
    )
    assert row["commit_id"] == f"{REPO}/{'d' * 40}"
    assert (row["state"], row["refname"]) == ("SUCCESSFUL", "main")
    assert row["created_on"] == row["updated_on"] == MS_UTC
    with pytest.raises(RowError, match="build status has no 'key'"):
        rows_git.build_status(
            {"state": "FAILED"}, source=SRC, repository_id=REPO, commit_hash="d" * 40
        )
