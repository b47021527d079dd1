"""Bitbucket Cloud 2.0 resources, declared once (reference: bitbucket-cloud.md §3, §9)."""

from __future__ import annotations

from bbmirror.engine.streams import (
    ABSENT,
    DELETED,
    DENIED,
    FAILED,
    REMOVED,
    TRACKER_POLICY,
    Owned,
    Stream,
    streams_under,
    using,
)
from bbmirror.flavours.cloud import refs as cloud_refs
from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.flavours.cloud import rows_deploys as cloud_deploys
from bbmirror.flavours.cloud import rows_feed as cloud_feed
from bbmirror.flavours.cloud import rows_git as cloud_git
from bbmirror.flavours.cloud import rows_insights as cloud_insights
from bbmirror.flavours.cloud import rows_issues as cloud_issues
from bbmirror.flavours.cloud import rows_pipelines as cloud_pipelines
from bbmirror.flavours.cloud import rows_prsize as cloud_prsize
from bbmirror.flavours.cloud import rows_tasks as cloud_tasks

REPO = "repositories/{workspace}/{slug}"
PR = REPO + "/pullrequests/{number}"
ISSUE = REPO + "/issues/{number}"
PR_STATES = tuple(("state", s) for s in ("OPEN", "MERGED", "DECLINED", "SUPERSEDED"))


IN_REPO = ("repository_id",)
IN_PR = ("repository_id", "pullrequest_id")
IN_ISSUE = ("repository_id", "issue_id")
IN_COMMIT = ("repository_id", "commit_hash")
IN_WORKSPACE = ("workspace_id",)


# An issue's child list: 404 means the issue vanished meanwhile; 410, the tracker was removed.
ISSUE_CHILD_POLICY = ((403, DENIED), (404, DELETED), (410, REMOVED))
# Pipelines (flavours/cloud/pipelines.py): a repository that never ran one may answer 404.
PIPELINES_POLICY = ((403, DENIED), (404, ABSENT), (410, FAILED))

# A workspace's and a repository's lists, a repository's child lists (of a commit, a run...),
# and the child lists of one pull request or one issue.
_workspace_list = streams_under("workspaces/{workspace}", IN_WORKSPACE, scope="workspace_id")
_repo_list = streams_under(REPO, IN_REPO)
_repo_child = streams_under(REPO, IN_REPO, mode="children")
_pr_child = streams_under(PR, IN_PR, mode="children", scope="pullrequest_id", family="pullrequest")
_issue_child = streams_under(
    ISSUE, IN_ISSUE, mode="children", scope="issue_id", statuses=ISSUE_CHILD_POLICY, family="issue"
)
_TRACKER_LISTS = (
    ("milestones", cloud_issues.milestone),
    ("versions", cloud_issues.version),
    ("components", cloud_issues.component),
)


def _no_comments(pr: dict) -> bool:
    return pr.get("comment_count") == 0


def _stream_list() -> list[Stream]:
    return [
        Stream(
            "workspaces",
            "workspaces/{workspace}",
            "workspaces",
            using(cloud_rows.workspace),
            family="team",
        ),
        _workspace_list(
            "members", "members", "workspace_members", cloud_rows.member, family="team"
        ),
        _workspace_list("projects", "projects", "projects", cloud_rows.project, family="project"),
        Stream(
            "repositories",
            "repositories/{workspace}",
            "repositories",
            using(cloud_rows.repository, *IN_WORKSPACE),
            scope="workspace_id",
        ),
        # Branches and tags come in one list, `refs` (§3.18; flavours/cloud/refs.py reads it).
        _repo_list("branches", "refs", "branches", cloud_refs.ref),
        _repo_list("tags", "refs", "tags", cloud_refs.ref),
        # The API lists default reviewers with pull requests (scope `pullrequest`).
        _repo_list(
            "default_reviewers",
            "default-reviewers",
            "default_reviewers",
            cloud_rows.default_reviewer,
            family="pullrequest",
        ),
        _repo_list("commits", "commits", "commits", cloud_git.commit, mode="heads"),
        _repo_list(
            "pr_feed",  # every PR's activity and comments, newest first (engine/feed.py)
            "pullrequests/activity",
            "pullrequest_activity",
            cloud_feed.feed_entry,
            mode="feed",
            pagelen=50,  # like a PR's own activity list, it refuses more
            owns=(Owned("comments", "repository_id", (("kind", "pullrequest"),)),),
            family="pullrequest",
        ),
        _repo_list(
            "pullrequests",
            "pullrequests",
            "pullrequests",
            cloud_rows.pullrequest,
            mode="incremental",
            # Lists omit reviewers and participants unless asked for (`+` sent as %2B).
            params=(*PR_STATES, ("fields", "+values.participants,+values.reviewers")),
            cursor="updated_on",
            children=(
                "pr_comments",
                "pr_activity",
                "pr_commits",
                "pr_statuses",
                "pr_diffstat",
                "pr_tasks",
            ),
            child_key="pullrequest_id",  # children get it, and the PR/issue number
            # A new or changed status leaves updated_on alone; a task change may (rows_tasks.py).
            refresh=("pr_statuses", "pr_tasks"),
            owns=(Owned("pullrequest_participants", "pullrequest_id"),),
            cascade=(
                ("comments", "pullrequest_id"),
                ("pullrequest_activity", "pullrequest_id"),
                ("pullrequest_participants", "pullrequest_id"),
                ("pullrequest_commits", "pullrequest_id"),
                ("pullrequest_files", "pullrequest_id"),
                ("pullrequest_tasks", "pullrequest_id"),
            ),
            key="{repository_id}/pr/{id}",
            family="pullrequest",
            reconcile_params=PR_STATES,
        ),
        _pr_child("pr_comments", "comments", "comments", cloud_rows.pr_comment, skip=_no_comments),
        # The activity endpoint refuses a larger page (400 "Invalid pagelen").
        _pr_child(
            "pr_activity", "activity", "pullrequest_activity", cloud_rows.pr_activity, pagelen=50
        ),
        _pr_child("pr_commits", "commits", "pullrequest_commits", cloud_git.pr_commit_link),
        # Statuses are keyed by uuid; a PR's list is not all of a commit's (no scope).
        _pr_child(
            "pr_statuses",
            "statuses",
            "commit_statuses",
            cloud_git.commit_status,
            keys=IN_REPO,
            scope="",
        ),
        _repo_child(
            "pr_diffstat",  # the PR's diffstat by its commits, one request (pr_size.py)
            "diffstat/{spec}",
            "pullrequest_files",
            cloud_prsize.pr_file,
            keys=(*IN_PR, "source_commit"),
            scope="pullrequest_id",
            pagelen=500,  # diffstat pages hold up to 500 entries (§3.14)
            family="pullrequest",
        ),
        # No skip: task_count counts open tasks only, all-resolved PRs show 0 (rows_tasks.py).
        _pr_child("pr_tasks", "tasks", "pullrequest_tasks", cloud_tasks.pr_task),
        # Code insights on chosen commits (flavours/cloud/insights.py picks them).
        _repo_child(
            "insight_reports",
            "commit/{commit_hash}/reports",
            "insight_reports",
            cloud_insights.report,
            keys=IN_COMMIT,
            scope="commit_id",
            children=("insight_annotations",),
        ),
        _repo_child(
            "insight_annotations",
            "commit/{commit_hash}/reports/{report_ref}/annotations",
            "insight_annotations",
            cloud_insights.annotation,
            keys=(*IN_COMMIT, "report_id"),
            scope="report_id",
        ),
        *(
            _repo_list(name, name, name, function, statuses=TRACKER_POLICY, family="issue")
            for name, function in _TRACKER_LISTS
        ),
        _repo_list(
            "issues",
            "issues",
            "issues",
            cloud_issues.issue,
            mode="incremental",
            cursor="updated_on",
            children=("issue_comments", "issue_changes", "issue_attachments"),
            child_key="issue_id",  # children get it, and the PR/issue number
            statuses=TRACKER_POLICY,  # no tracker (404) or Cloud's removed tracker (410) are normal
            family="issue",
            key="{repository_id}/issue/{id}",
            cascade=(
                ("comments", "issue_id"),
                ("issue_changes", "issue_id"),
                ("issue_change_items", "issue_id"),
                ("issue_attachments", "issue_id"),
            ),
        ),
        _issue_child("issue_comments", "comments", "comments", cloud_issues.issue_comment),
        _issue_child("issue_changes", "changes", "issue_changes", cloud_issues.issue_change),
        _issue_child(
            "issue_attachments", "attachments", "issue_attachments", cloud_issues.issue_attachment
        ),
        # Runs newest first down to what is mirrored (flavours/cloud/pipelines.py).
        _repo_list(
            "pipelines",
            "pipelines/",
            "pipelines",
            cloud_pipelines.pipeline,
            statuses=PIPELINES_POLICY,
            family="pipeline",
        ),
        _repo_child(  # a run's steps, read once it is COMPLETED
            "pipeline_steps",
            "pipelines/{pipeline_uuid}/steps/",
            "pipeline_steps",
            cloud_pipelines.pipeline_step,
            keys=("repository_id", "pipeline_id"),
            scope="pipeline_id",
            family="pipeline",
        ),
        # Deployments and environments (§3.19: trailing slashes; scope `pipeline`).
        _repo_list(
            "environments",
            "environments/",
            "environments",
            cloud_deploys.environment,
            family="pipeline",
        ),
        _repo_list(
            "deployments",
            "deployments/",
            "deployments",
            cloud_deploys.deployment,
            family="pipeline",
        ),
    ]


CLOUD_STREAMS: dict[str, Stream] = {s.name: s for s in _stream_list()}
