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
PR_STATES = tuple(("state", s) for s in ("OPEN", "MERGED", "DECLINED", "SUPERSEDED"))


IN_REPO = ("repository_id",)
IN_PR = ("repository_id", "pullrequest_id")
IN_ISSUE = ("repository_id", "issue_id")
IN_WORKSPACE = ("workspace_id",)


# An issue's child list: 404 means the issue vanished meanwhile; 410, the tracker was removed.
ISSUE_CHILD_POLICY = ((403, DENIED), (404, DELETED), (410, REMOVED))
# Pipelines (flavours/cloud/pipelines.py): a repository that never ran one may answer 404.
PIPELINES_POLICY = ((403, DENIED), (404, ABSENT), (410, FAILED))


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
        Stream(
            "members",
            "workspaces/{workspace}/members",
            "workspace_members",
            using(cloud_rows.member, *IN_WORKSPACE),
            scope="workspace_id",
            family="team",
        ),
        Stream(
            "projects",
            "workspaces/{workspace}/projects",
            "projects",
            using(cloud_rows.project, *IN_WORKSPACE),
            scope="workspace_id",
            family="project",
        ),
        Stream(
            "repositories",
            "repositories/{workspace}",
            "repositories",
            using(cloud_rows.repository, *IN_WORKSPACE),
            scope="workspace_id",
        ),
        # Branches and tags come in one list, `refs` (§3.18; flavours/cloud/refs.py reads it).
        Stream("branches", f"{REPO}/refs", "branches", using(cloud_refs.ref, *IN_REPO)),
        Stream("tags", f"{REPO}/refs", "tags", using(cloud_refs.ref, *IN_REPO)),
        Stream(
            "default_reviewers",
            f"{REPO}/default-reviewers",
            "default_reviewers",
            using(cloud_rows.default_reviewer, *IN_REPO),
            family="pullrequest",  # the API lists it with pull requests (scope `pullrequest`)
        ),
        Stream(
            "commits", f"{REPO}/commits", "commits", using(cloud_git.commit, *IN_REPO), mode="heads"
        ),
        Stream(
            "pr_feed",  # every PR's activity and comments, newest first (engine/feed.py)
            f"{REPO}/pullrequests/activity",
            "pullrequest_activity",
            using(cloud_feed.feed_entry, *IN_REPO),
            mode="feed",
            pagelen=50,  # like a PR's own activity list, it refuses more
            owns=(Owned("comments", "repository_id", (("kind", "pullrequest"),)),),
            family="pullrequest",
        ),
        Stream(
            "pullrequests",
            f"{REPO}/pullrequests",
            "pullrequests",
            using(cloud_rows.pullrequest, *IN_REPO),
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
        Stream(
            "pr_comments",
            f"{REPO}/pullrequests/{{number}}/comments",
            "comments",
            using(cloud_rows.pr_comment, *IN_PR),
            mode="children",
            scope="pullrequest_id",
            skip=_no_comments,
            family="pullrequest",
        ),
        Stream(
            "pr_activity",
            f"{REPO}/pullrequests/{{number}}/activity",
            "pullrequest_activity",
            using(cloud_rows.pr_activity, *IN_PR),
            mode="children",
            scope="pullrequest_id",
            pagelen=50,  # the activity endpoint refuses more (400 "Invalid pagelen")
            family="pullrequest",
        ),
        Stream(
            "pr_commits",
            f"{REPO}/pullrequests/{{number}}/commits",
            "pullrequest_commits",
            using(cloud_git.pr_commit_link, *IN_PR),
            mode="children",
            scope="pullrequest_id",
            family="pullrequest",
        ),
        Stream(
            "pr_statuses",
            f"{REPO}/pullrequests/{{number}}/statuses",
            "commit_statuses",
            using(cloud_git.commit_status, *IN_REPO),
            mode="children",
            scope="",  # statuses are keyed by uuid; a PR's list is not all of a commit's
            family="pullrequest",
        ),
        Stream(
            "pr_diffstat",  # the PR's diffstat by its commits, one request (pr_size.py)
            f"{REPO}/diffstat/{{spec}}",
            "pullrequest_files",
            using(cloud_prsize.pr_file, *IN_PR, "source_commit"),
            mode="children",
            scope="pullrequest_id",
            pagelen=500,  # diffstat pages hold up to 500 entries (§3.14)
            family="pullrequest",
        ),
        Stream(
            "pr_tasks",
            f"{REPO}/pullrequests/{{number}}/tasks",
            "pullrequest_tasks",
            using(cloud_tasks.pr_task, *IN_PR),
            mode="children",
            scope="pullrequest_id",
            # No skip: task_count counts open tasks only, all-resolved PRs show 0 (rows_tasks.py)
            family="pullrequest",
        ),
        # Code insights on chosen commits (flavours/cloud/insights.py picks them).
        Stream(
            "insight_reports",
            f"{REPO}/commit/{{commit_hash}}/reports",
            "insight_reports",
            using(cloud_insights.report, "repository_id", "commit_hash"),
            mode="children",
            scope="commit_id",
            children=("insight_annotations",),
        ),
        Stream(
            "insight_annotations",
            f"{REPO}/commit/{{commit_hash}}/reports/{{report_ref}}/annotations",
            "insight_annotations",
            using(cloud_insights.annotation, "repository_id", "commit_hash", "report_id"),
            mode="children",
            scope="report_id",
        ),
        Stream(
            "milestones",
            f"{REPO}/milestones",
            "milestones",
            using(cloud_issues.milestone, *IN_REPO),
            statuses=TRACKER_POLICY,
            family="issue",
        ),
        Stream(
            "versions",
            f"{REPO}/versions",
            "versions",
            using(cloud_issues.version, *IN_REPO),
            statuses=TRACKER_POLICY,
            family="issue",
        ),
        Stream(
            "components",
            f"{REPO}/components",
            "components",
            using(cloud_issues.component, *IN_REPO),
            statuses=TRACKER_POLICY,
            family="issue",
        ),
        Stream(
            "issues",
            f"{REPO}/issues",
            "issues",
            using(cloud_issues.issue, *IN_REPO),
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
        Stream(
            "issue_comments",
            f"{REPO}/issues/{{number}}/comments",
            "comments",
            using(cloud_issues.issue_comment, *IN_ISSUE),
            mode="children",
            scope="issue_id",
            statuses=ISSUE_CHILD_POLICY,
            family="issue",
        ),
        Stream(
            "issue_changes",
            f"{REPO}/issues/{{number}}/changes",
            "issue_changes",
            using(cloud_issues.issue_change, *IN_ISSUE),
            mode="children",
            scope="issue_id",
            statuses=ISSUE_CHILD_POLICY,
            family="issue",
        ),
        Stream(
            "issue_attachments",
            f"{REPO}/issues/{{number}}/attachments",
            "issue_attachments",
            using(cloud_issues.issue_attachment, *IN_ISSUE),
            mode="children",
            scope="issue_id",
            statuses=ISSUE_CHILD_POLICY,
            family="issue",
        ),
        Stream(  # runs newest first down to what is mirrored (flavours/cloud/pipelines.py)
            "pipelines",
            f"{REPO}/pipelines/",
            "pipelines",
            using(cloud_pipelines.pipeline, *IN_REPO),
            statuses=PIPELINES_POLICY,
            family="pipeline",
        ),
        Stream(  # a run's steps, read once it is COMPLETED
            "pipeline_steps",
            f"{REPO}/pipelines/{{pipeline_uuid}}/steps/",
            "pipeline_steps",
            using(cloud_pipelines.pipeline_step, "repository_id", "pipeline_id"),
            mode="children",
            scope="pipeline_id",
            family="pipeline",
        ),
        # Deployments and environments (§3.19: trailing slashes; scope `pipeline`).
        Stream(
            "environments",
            f"{REPO}/environments/",
            "environments",
            using(cloud_deploys.environment, *IN_REPO),
            family="pipeline",
        ),
        Stream(
            "deployments",
            f"{REPO}/deployments/",
            "deployments",
            using(cloud_deploys.deployment, *IN_REPO),
            family="pipeline",
        ),
    ]


CLOUD_STREAMS: dict[str, Stream] = {s.name: s for s in _stream_list()}
