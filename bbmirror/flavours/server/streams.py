"""Bitbucket Server / Data Center 1.0 resources, declared once (bitbucket-server.md §2, §3)."""

from __future__ import annotations

from bbmirror.engine.streams import ABSENT, DELETED, DENIED, Owned, Stream, streams_under, using
from bbmirror.flavours.server import rows, rows_git, rows_prsize

API = "rest/api/1.0"
REPO = API + "/projects/{project}/repos/{slug}"
PR = REPO + "/pull-requests/{number}"
LIMIT = 1000  # ask for big pages; the server clamps and says what it applied (§1.2)


IN_REPO = ("repository_id",)
IN_PR = ("repository_id", "pullrequest_id")

# A repository's lists, and one pull request's child lists.
_repo_list = streams_under(REPO, IN_REPO, pagelen=LIMIT)
_pr_child = streams_under(PR, IN_PR, mode="children", scope="pullrequest_id", family="pullrequest")


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
        _repo_list("labels", "labels", "repository_labels", rows.repository_label),
        Stream(
            "tags", REPO + "/tags", "tags", using(rows_git.ref, *IN_REPO, kind="tag"), pagelen=LIMIT
        ),
        _repo_list("commits", "commits", "commits", rows_git.commit, mode="ranges"),
        Stream(
            "statuses",
            "rest/build-status/1.0/commits/{commit_hash}",
            "commit_statuses",
            using(rows_git.build_status, "repository_id", "commit_hash"),
            mode="children",
            scope="",  # one commit's statuses; keyed by commit and build key
            pagelen=LIMIT,
        ),
        _repo_list(
            "pullrequests",
            "pull-requests",
            "pullrequests",
            rows.pullrequest,
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
            family="pullrequest",
        ),
        _pr_child(
            "pr_activity",
            "activities",
            "pullrequest_activity",
            rows.activity,
            # Activities are the only complete source of comments; a comment no longer in any
            # thread was deleted (§3.2 4f).
            owns=(
                Owned("comments", "pullrequest_id"),
                Owned("pullrequest_tasks", "pullrequest_id"),
            ),
            pagelen=LIMIT,
        ),
        # Files and lines in one request, once per source and target commit (pr_size.py).
        _pr_child(
            "pr_diff",
            "diff",
            "pullrequest_files",
            rows_prsize.diff_file,
            keys=(*IN_PR, "source_commit"),
        ),
        _pr_child(
            "pr_commits", "commits", "pullrequest_commits", rows_git.pr_commit_link, pagelen=LIMIT
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
