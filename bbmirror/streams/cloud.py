"""Bitbucket Cloud 2.0 resources, declared once (reference: bitbucket-cloud.md §3, §9)."""

from __future__ import annotations

from bbmirror.store import rows
from bbmirror.streams import Context, Owned, RowSet, Stream

REPO = "repositories/{workspace}/{slug}"
PR_STATES = tuple(("state", s) for s in ("OPEN", "MERGED", "DECLINED", "SUPERSEDED"))


def _in_repo(function):
    """Adapt a rows function that needs the source and the repository."""

    def convert(obj: dict, ctx: Context) -> RowSet:
        return function(obj, source=ctx["source"], repository_id=ctx["repository_id"])

    return convert


def _in_pr(function):
    def convert(obj: dict, ctx: Context) -> RowSet:
        return function(
            obj,
            source=ctx["source"],
            repository_id=ctx["repository_id"],
            pullrequest_id=ctx["pullrequest_id"],
        )

    return convert


def _in_issue(function):
    def convert(obj: dict, ctx: Context) -> RowSet:
        return function(
            obj, source=ctx["source"], repository_id=ctx["repository_id"], issue_id=ctx["issue_id"]
        )

    return convert


def _in_workspace(function):
    def convert(obj: dict, ctx: Context) -> RowSet:
        return function(obj, source=ctx["source"], workspace_id=ctx["workspace_id"])

    return convert


def _no_comments(pr: dict) -> bool:
    return pr.get("comment_count") == 0


def _stream_list() -> list[Stream]:
    return [
        Stream(
            "workspaces",
            "workspaces/{workspace}",
            "workspaces",
            lambda obj, ctx: rows.workspace(obj, source=ctx["source"]),
        ),
        Stream(
            "members",
            "workspaces/{workspace}/members",
            "workspace_members",
            _in_workspace(rows.member),
            scope="workspace_id",
        ),
        Stream(
            "projects",
            "workspaces/{workspace}/projects",
            "projects",
            _in_workspace(rows.project),
            scope="workspace_id",
        ),
        Stream(
            "repositories",
            "repositories/{workspace}",
            "repositories",
            _in_workspace(rows.repository),
            scope="workspace_id",
        ),
        Stream("branches", f"{REPO}/refs/branches", "branches", _in_repo(rows.branch)),
        Stream("tags", f"{REPO}/refs/tags", "tags", _in_repo(rows.tag)),
        Stream("commits", f"{REPO}/commits", "commits", _in_repo(rows.commit), mode="heads"),
        Stream(
            "pullrequests",
            f"{REPO}/pullrequests",
            "pullrequests",
            _in_repo(rows.pullrequest),
            mode="incremental",
            # Lists omit reviewers and participants unless asked for (`+` sent as %2B).
            params=(*PR_STATES, ("fields", "+values.participants,+values.reviewers")),
            cursor="updated_on",
            children=("pr_comments", "pr_activity", "pr_commits", "pr_statuses"),
            owns=(Owned("pullrequest_participants", "pullrequest_id"),),
            cascade=(
                ("comments", "pullrequest_id"),
                ("pullrequest_activity", "pullrequest_id"),
                ("pullrequest_participants", "pullrequest_id"),
                ("pullrequest_commits", "pullrequest_id"),
            ),
            key="{repository_id}/pr/{id}",
            reconcile_params=PR_STATES,
        ),
        Stream(
            "pr_comments",
            f"{REPO}/pullrequests/{{number}}/comments",
            "comments",
            _in_pr(rows.pr_comment),
            mode="children",
            scope="pullrequest_id",
            skip=_no_comments,
        ),
        Stream(
            "pr_activity",
            f"{REPO}/pullrequests/{{number}}/activity",
            "pullrequest_activity",
            _in_pr(rows.pr_activity),
            mode="children",
            scope="pullrequest_id",
            pagelen=50,  # the activity endpoint refuses more (400 "Invalid pagelen")
        ),
        Stream(
            "pr_commits",
            f"{REPO}/pullrequests/{{number}}/commits",
            "pullrequest_commits",
            _in_pr(rows.pr_commit_link),
            mode="children",
            scope="pullrequest_id",
        ),
        Stream(
            "pr_statuses",
            f"{REPO}/pullrequests/{{number}}/statuses",
            "commit_statuses",
            _in_repo(rows.commit_status),
            mode="children",
            scope="",  # statuses are keyed by uuid; a PR's list is not all of a commit's
        ),
        Stream(
            "milestones",
            f"{REPO}/milestones",
            "milestones",
            _in_repo(rows.milestone),
            optional=True,
        ),
        Stream("versions", f"{REPO}/versions", "versions", _in_repo(rows.version), optional=True),
        Stream(
            "components",
            f"{REPO}/components",
            "components",
            _in_repo(rows.component),
            optional=True,
        ),
        Stream(
            "issues",
            f"{REPO}/issues",
            "issues",
            _in_repo(rows.issue),
            mode="incremental",
            cursor="updated_on",
            children=("issue_comments", "issue_changes", "issue_attachments"),
            optional=True,  # no tracker (404) or Cloud's removed tracker (410) are normal
            key="{repository_id}/issue/{id}",
            cascade=(
                ("comments", "issue_id"),
                ("issue_changes", "issue_id"),
                ("issue_change_items", "issue_id"),
                ("issue_attachments", "issue_id"),
            ),
        ),
        Stream(
            "issue_comments",
            f"{REPO}/issues/{{number}}/comments",
            "comments",
            _in_issue(rows.issue_comment),
            mode="children",
            scope="issue_id",
        ),
        Stream(
            "issue_changes",
            f"{REPO}/issues/{{number}}/changes",
            "issue_changes",
            _in_issue(rows.issue_change),
            mode="children",
            scope="issue_id",
        ),
        Stream(
            "issue_attachments",
            f"{REPO}/issues/{{number}}/attachments",
            "issue_attachments",
            _in_issue(rows.issue_attachment),
            mode="children",
            scope="issue_id",
        ),
    ]


CLOUD_STREAMS: dict[str, Stream] = {s.name: s for s in _stream_list()}
