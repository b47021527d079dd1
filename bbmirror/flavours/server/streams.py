"""Bitbucket Server / Data Center 1.0 resources, declared once (bitbucket-server.md §2, §3)."""

from __future__ import annotations

from bbmirror.engine.streams import ABSENT, DELETED, DENIED, Owned, Stream, using
from bbmirror.flavours.server import rows, rows_git, rows_prsize

API = "rest/api/1.0"
REPO = API + "/projects/{project}/repos/{slug}"
PR = REPO + "/pull-requests/{number}"
LIMIT = 1000  # ask for big pages; the server clamps and says what it applied (§1.2)


IN_REPO = ("repository_id",)
IN_PR = ("repository_id", "pullrequest_id")


def _stream_list() -> list[Stream]:
    return [
        Stream(
            # A named project, as the preflight read it: written even when it holds no
            # repository (one whose repositories all moved away still exists upstream).
            "projects",
            API + "/projects/{project}",
            "projects",
            using(rows.project),
            scope="",
            paged=False,
        ),
        Stream(
            "repositories",
            API + "/projects/{project}/repos",
            "repositories",
            using(rows.repository),
            scope="project_id",
            pagelen=LIMIT,
        ),
        Stream(
            "all_repositories",
            API + "/repos",
            "repositories",
            using(rows.repository),
            scope="source",
            pagelen=LIMIT,
        ),
        Stream(
            "branches",
            REPO + "/branches",
            "branches",
            using(rows_git.ref, *IN_REPO, kind="branch"),
            pagelen=LIMIT,
        ),
        Stream(
            "labels",
            REPO + "/labels",
            "repository_labels",
            using(rows.repository_label, *IN_REPO),
            pagelen=LIMIT,
        ),
        Stream(
            "tags", REPO + "/tags", "tags", using(rows_git.ref, *IN_REPO, kind="tag"), pagelen=LIMIT
        ),
        Stream(
            "commits",
            REPO + "/commits",
            "commits",
            using(rows_git.commit, *IN_REPO),
            mode="ranges",
            pagelen=LIMIT,
        ),
        Stream(
            "statuses",
            "rest/build-status/1.0/commits/{commit_hash}",
            "commit_statuses",
            using(rows_git.build_status, "repository_id", "commit_hash"),
            mode="children",
            scope="",  # one commit's statuses; keyed by commit and build key
            pagelen=LIMIT,
        ),
        Stream(
            "pullrequests",
            REPO + "/pull-requests",
            "pullrequests",
            using(rows.pullrequest, *IN_REPO),
            mode="newest",
            params=(("state", "ALL"), ("order", "NEWEST")),
            cursor="updated_on",
            # No "updated since" filter on Server: these say a PR changed (§3.1).
            markers=("updated_on", "version", "comment_count", "task_count", "state"),
            # pr_jira is read after the walk, from the stored PR commits (server/jira.py).
            children=("pr_activity", "pr_commits", "pr_diff"),
            child_key="pullrequest_id",  # children get it, and the PR/issue number
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
                ("pullrequest_files", "pullrequest_id"),
                ("pullrequest_tasks", "pullrequest_id"),
            ),
            pagelen=LIMIT,
            family="pullrequest",
        ),
        Stream(
            "pr_activity",
            PR + "/activities",
            "pullrequest_activity",
            using(rows.activity, *IN_PR),
            mode="children",
            scope="pullrequest_id",
            # Activities are the only complete source of comments; a comment no longer in any
            # thread was deleted (§3.2 4f).
            owns=(
                Owned("comments", "pullrequest_id"),
                Owned("pullrequest_tasks", "pullrequest_id"),
            ),
            pagelen=LIMIT,
            family="pullrequest",
        ),
        Stream(
            "pr_diff",  # files and lines in one request, once per source commit (pr_size.py)
            PR + "/diff",
            "pullrequest_files",
            using(rows_prsize.diff_file, *IN_PR, "source_commit"),
            mode="children",
            scope="pullrequest_id",
            family="pullrequest",
        ),
        Stream(
            "pr_commits",
            PR + "/commits",
            "pullrequest_commits",
            using(rows_git.pr_commit_link, *IN_PR),
            mode="children",
            scope="pullrequest_id",
            pagelen=LIMIT,
            family="pullrequest",
        ),
        Stream(
            "pr_jira",
            "rest/jira/1.0/projects/{project}/repos/{slug}/pull-requests/{number}/issues",
            "jira_links",
            using(rows.pr_jira_issue, *IN_PR),
            mode="children",
            scope="pullrequest_id",
            scope_filter=(("found_in", "jira"),),
            paged=False,  # a bare JSON array
            family="jira",
            # No Jira integration installed: 404 is an absent feature, not a deleted PR.
            statuses=((403, DENIED), (404, ABSENT), (410, DELETED)),
        ),
    ]


SERVER_STREAMS: dict[str, Stream] = {s.name: s for s in _stream_list()}
