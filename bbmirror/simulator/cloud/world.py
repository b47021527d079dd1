"""The simulator's in-memory model of Bitbucket Cloud: plain dataclasses, no HTTP.

The world is the ground truth for tests: the API renders it, mutations change it, and a
mirrored database is compared against it. Everything is keyed the way Bitbucket keys it
(uuids in braces, per-repository issue and PR numbers, global comment ids, commit hashes).
Timestamps are ISO-8601 strings exactly as the API returns them (``+00:00`` with
microseconds; commit and tag dates keep the author's offset and have no fraction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bbmirror.simulator.cloud.deploy_model import Deploys
from bbmirror.simulator.cloud.insight_model import InsightReport
from bbmirror.simulator.cloud.pipeline_model import Pipeline
from bbmirror.simulator.common.clock import WORLD_CLOCK

ISSUE_STATES = (
    "new",
    "open",
    "resolved",
    "on hold",
    "invalid",
    "duplicate",
    "wontfix",
    "closed",
    "submitted",
)
ISSUE_KINDS = ("bug", "enhancement", "proposal", "task")
ISSUE_PRIORITIES = ("trivial", "minor", "major", "critical", "blocker")
PR_STATES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")
STATUS_STATES = ("SUCCESSFUL", "FAILED", "INPROGRESS", "STOPPED")
ACTIVITY_KINDS = ("update", "approval", "comment", "changes_requested")


@dataclass
class User:
    uuid: str
    account_id: str
    display_name: str
    nickname: str
    created_on: str


@dataclass
class Membership:
    user_uuid: str
    permission: str  # owner | collaborator | member
    added_on: str


@dataclass
class Project:
    uuid: str
    key: str
    name: str
    description: str
    is_private: bool
    created_on: str
    updated_on: str


@dataclass
class Workspace:
    uuid: str
    slug: str
    name: str
    is_private: bool
    created_on: str
    updated_on: str
    members: list[Membership] = field(default_factory=list)
    projects: dict[str, Project] = field(default_factory=dict)  # by key


@dataclass
class Commit:
    hash: str
    author_raw: str  # "Name <email>"
    author_uuid: str | None  # None when the email matches no Bitbucket user
    date: str  # author's offset, no fraction: 2024-05-01T10:00:00+02:00
    message: str
    parents: list[str] = field(default_factory=list)


@dataclass
class Tag:
    name: str
    target: str  # commit hash
    date: str | None = None
    message: str | None = None
    tagger_raw: str | None = None


@dataclass
class CommitStatus:
    uuid: str
    key: str
    state: str  # STATUS_STATES
    name: str
    description: str
    url: str
    refname: str | None
    created_on: str
    updated_on: str


@dataclass
class Named:
    """A milestone, version or component: an id and a name, nothing else."""

    id: int
    name: str


@dataclass
class Comment:
    """An issue or PR comment; ``inline`` only on PR comments, ``parent`` for replies."""

    id: int
    user_uuid: str
    content: str  # raw markdown
    created_on: str
    updated_on: str
    deleted: bool = False
    parent_id: int | None = None
    inline: dict | None = None  # {"path": str, "from": int | None, "to": int | None}


@dataclass
class IssueChange:
    """An immutable change-log record; ``changes`` maps field -> {"old": str, "new": str}."""

    id: int
    user_uuid: str
    created_on: str
    changes: dict[str, dict[str, str]]
    message: str = ""


@dataclass
class Attachment:
    name: str
    content: bytes
    created_on: str  # upload time (Bitbucket orders by it but does not expose it)


@dataclass
class Issue:
    id: int
    title: str
    reporter_uuid: str
    assignee_uuid: str | None
    state: str
    kind: str
    priority: str
    content: str
    created_on: str
    updated_on: str
    edited_on: str | None = None
    milestone_id: int | None = None
    version_id: int | None = None
    component_id: int | None = None
    votes: int = 0
    watcher_uuids: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    changes: list[IssueChange] = field(default_factory=list)  # oldest first
    attachments: list[Attachment] = field(default_factory=list)  # by upload date


@dataclass
class Participant:
    user_uuid: str
    role: str  # PARTICIPANT | REVIEWER
    approved: bool = False
    state: str | None = None  # approved | changes_requested | None
    participated_on: str | None = None


@dataclass
class Activity:
    """One PR activity entry. ``kind`` is update | approval | comment | changes_requested.

    ``update`` entries snapshot the PR (``state``, ``title``, ``description``, source and
    destination commit) in ``data``; ``comment`` entries point at ``comment_id``.
    """

    kind: str
    date: str
    user_uuid: str
    comment_id: int | None = None
    data: dict = field(default_factory=dict)


@dataclass
class PrTask:
    """A pull request task (``/pullrequests/{id}/tasks``, simulator/cloud/tasks.py)."""

    id: int
    creator_uuid: str
    content: str
    created_on: str
    updated_on: str
    state: str = "UNRESOLVED"  # UNRESOLVED | RESOLVED
    resolved_by_uuid: str | None = None
    resolved_on: str | None = None
    comment_id: int | None = None  # the comment it hangs on, if any


@dataclass
class PullRequest:
    id: int
    title: str
    description: str
    state: str  # PR_STATES
    author_uuid: str
    source_branch: str
    source_commit: str
    destination_branch: str
    destination_commit: str
    created_on: str
    updated_on: str
    merge_commit: str | None = None
    closed_by_uuid: str | None = None
    reason: str = ""
    close_source_branch: bool = False
    task_count: int = 0
    reviewer_uuids: list[str] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list)  # oldest first
    commit_hashes: list[str] = field(default_factory=list)  # newest first
    draft: bool = False
    tasks: list[PrTask] = field(default_factory=list)  # by id; task_count = the UNRESOLVED

    @property
    def comment_count(self) -> int:
        return sum(1 for c in self.comments if not c.deleted)


@dataclass
class Repository:
    uuid: str
    workspace: str  # workspace slug
    slug: str
    name: str
    description: str
    is_private: bool
    has_issues: bool
    mainbranch: str
    language: str
    size: int
    created_on: str
    updated_on: str
    project_key: str | None = None
    fork_policy: str = "allow_forks"
    commits: dict[str, Commit] = field(default_factory=dict)  # insertion = creation order
    branches: dict[str, str] = field(default_factory=dict)  # name -> head hash
    tags: dict[str, Tag] = field(default_factory=dict)
    statuses: dict[str, list[CommitStatus]] = field(default_factory=dict)  # by commit
    issues: dict[int, Issue] = field(default_factory=dict)
    milestones: dict[int, Named] = field(default_factory=dict)
    versions: dict[int, Named] = field(default_factory=dict)
    components: dict[int, Named] = field(default_factory=dict)
    pullrequests: dict[int, PullRequest] = field(default_factory=dict)
    default_reviewers: list[str] = field(default_factory=list)  # user uuids, in order added
    reports: dict[str, list[InsightReport]] = field(default_factory=dict)  # by commit hash
    last_issue_id: int = 0  # highest issue id ever handed out; deleted ids are never reused
    pipelines: list[Pipeline] = field(default_factory=list)  # by build_number (pipelines.py)
    deploys: Deploys = field(default_factory=Deploys)  # environments, deployments (deploys.py)

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"


@dataclass
class Settings:
    """Behaviour switches where Bitbucket's documentation is silent (see simulator docs)."""

    comment_bumps_issue: bool = True  # an issue comment bumps issue.updated_on
    vote_bumps_issue: bool = False  # votes and watches leave updated_on alone
    attachment_bumps_issue: bool = True
    comment_bumps_pr: bool = True  # a PR comment bumps pr.updated_on
    approval_bumps_pr: bool = True  # approvals and change requests bump pr.updated_on
    status_bumps_pr: bool = False  # a build status on the source commit leaves the PR alone
    task_bumps_pr: bool = True  # creating, resolving or deleting a task bumps pr.updated_on
    # The repository-wide activity feed's order is undocumented (reference §3.13): newest
    # first, or grouped by PR (newest PR first, each PR's entries newest first).
    feed_by_pr: bool = False


@dataclass
class World:
    """All of a simulated Bitbucket Cloud: the single source of truth."""

    users: dict[str, User] = field(default_factory=dict)  # by uuid
    workspaces: dict[str, Workspace] = field(default_factory=dict)  # by slug
    repositories: dict[str, Repository] = field(default_factory=dict)  # by uuid
    settings: Settings = field(default_factory=Settings)
    clock: str = WORLD_CLOCK  # the last timestamp handed out
    next_comment_id: int = 1000  # comment and issue-change ids: one global sequence
    next_task_id: int = 1  # pull request task ids: one global sequence

    def repo(self, workspace: str, slug_or_uuid: str) -> Repository | None:
        """Find a repository by workspace slug and repository slug or braced uuid."""
        if slug_or_uuid.startswith("{"):
            found = self.repositories.get(slug_or_uuid)
            return found if found and workspace in (found.workspace, "{}", "") else None
        for repo in self.repositories.values():
            if repo.workspace == workspace and repo.slug == slug_or_uuid:
                return repo
        return None

    def user(self, uuid: str | None) -> User | None:
        return self.users.get(uuid) if uuid else None

    def tick(self, seconds: float = 1.0) -> str:
        """Advance the world's clock and return the new time (UTC, microseconds, +00:00)."""
        moment = datetime.fromisoformat(self.clock) + timedelta(seconds=seconds)
        self.clock = moment.isoformat(timespec="microseconds")
        return self.clock
