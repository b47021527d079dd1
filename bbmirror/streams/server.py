"""Bitbucket Server / Data Center 1.0 resources, declared once (bitbucket-server.md §2, §3)."""

from __future__ import annotations

from bbmirror.store import rows_server as rows
from bbmirror.streams import Context, Owned, RowSet, Stream

API = "rest/api/1.0"
REPO = API + "/projects/{project}/repos/{slug}"
PR = REPO + "/pull-requests/{number}"
LIMIT = 1000  # ask for big pages; the server clamps and says what it applied (§1.2)


def _plain(function):
    def convert(obj: dict, ctx: Context) -> RowSet:
        return function(obj, source=ctx["source"])

    return convert


def _in_repo(function, **extra):
    def convert(obj: dict, ctx: Context) -> RowSet:
        return function(obj, source=ctx["source"], repository_id=ctx["repository_id"], **extra)

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


def _build(obj: dict, ctx: Context) -> RowSet:
    return rows.build_status(
        obj, source=ctx["source"], repository_id=ctx["repository_id"], commit_hash=ctx["sha"]
    )


def _stream_list() -> list[Stream]:
    return [
        Stream(
            "repositories",
            API + "/projects/{project}/repos",
            "repositories",
            _plain(rows.repository),
            scope="project_id",
            pagelen=LIMIT,
        ),
        Stream(
            "all_repositories",
            API + "/repos",
            "repositories",
            _plain(rows.repository),
            scope="source",
            pagelen=LIMIT,
        ),
        Stream(
            "branches",
            REPO + "/branches",
            "branches",
            _in_repo(rows.ref, kind="branch"),
            pagelen=LIMIT,
        ),
        Stream("tags", REPO + "/tags", "tags", _in_repo(rows.ref, kind="tag"), pagelen=LIMIT),
        Stream(
            "commits",
            REPO + "/commits",
            "commits",
            _in_repo(rows.commit),
            mode="ranges",
            pagelen=LIMIT,
        ),
        Stream(
            "statuses",
            "rest/build-status/1.0/commits/{sha}",
            "commit_statuses",
            _build,
            mode="children",
            scope="",  # one commit's statuses; keyed by commit and build key
            pagelen=LIMIT,
        ),
        Stream(
            "pullrequests",
            REPO + "/pull-requests",
            "pullrequests",
            _in_repo(rows.pullrequest),
            mode="newest",
            params=(("state", "ALL"), ("order", "NEWEST")),
            cursor="updated_on",
            # No "updated since" filter on Server: these say a PR changed (§3.1).
            markers=("updated_on", "version", "comment_count", "task_count", "state"),
            children=("pr_activity", "pr_commits", "pr_jira"),
            owns=(
                Owned("pullrequest_participants", "pullrequest_id"),
                Owned("jira_links", "pullrequest_id", (("found_in", "text"),)),
            ),
            cascade=(
                ("comments", "pullrequest_id"),
                ("pullrequest_activity", "pullrequest_id"),
                ("pullrequest_participants", "pullrequest_id"),
                ("pullrequest_commits", "pullrequest_id"),
                ("jira_links", "pullrequest_id"),
            ),
            pagelen=LIMIT,
        ),
        Stream(
            "pr_activity",
            PR + "/activities",
            "pullrequest_activity",
            _in_pr(rows.activity),
            mode="children",
            scope="pullrequest_id",
            # Activities are the only complete source of comments; a comment no longer in any
            # thread was deleted (§3.2 4f).
            owns=(Owned("comments", "pullrequest_id"),),
            pagelen=LIMIT,
        ),
        Stream(
            "pr_commits",
            PR + "/commits",
            "pullrequest_commits",
            _in_pr(rows.pr_commit_link),
            mode="children",
            scope="pullrequest_id",
            pagelen=LIMIT,
        ),
        Stream(
            "pr_jira",
            "rest/jira/1.0/projects/{project}/repos/{slug}/pull-requests/{number}/issues",
            "jira_links",
            _in_pr(rows.pr_jira_issue),
            mode="children",
            scope="pullrequest_id",
            scope_filter=(("found_in", "jira"),),
            paged=False,  # a bare JSON array
        ),
    ]


SERVER_STREAMS: dict[str, Stream] = {s.name: s for s in _stream_list()}
