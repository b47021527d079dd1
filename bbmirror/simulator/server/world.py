"""The simulator's in-memory model of Bitbucket Server / Data Center: plain dataclasses.

Keyed the way Server keys things (bitbucket-server.md §5, §6): numeric ids for users, projects,
repositories, comments and activities (global, increasing with time), PR ids per target
repository from 1, commit hashes. Every timestamp is an int of epoch milliseconds. Deleted
comments stay in the model with ``deleted=True`` (the API no longer shows them) so tests know
what vanished; deleted PRs are removed outright, as on Server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from bbmirror.simulator.common.graph import log_order

PR_STATES = ("OPEN", "DECLINED", "MERGED")
REVIEW_STATUSES = ("UNAPPROVED", "NEEDS_WORK", "APPROVED")
BUILD_STATES = ("SUCCESSFUL", "FAILED", "INPROGRESS")
ACTIONS = (
    "OPENED",
    "UPDATED",
    "RESCOPED",
    "COMMENTED",
    "APPROVED",
    "UNAPPROVED",
    "REVIEWED",
    "MERGED",
    "DECLINED",
    "REOPENED",
)
VERSION_ACTIONS = frozenset({"UPDATED", "RESCOPED", "MERGED", "DECLINED", "REOPENED"})
REVIEW_ACTIONS = frozenset({"APPROVED", "UNAPPROVED", "REVIEWED"})
JIRA_KEY = re.compile(r"\b[A-Z][A-Z0-9_]+-\d+\b")


@dataclass
class DcUser:
    id: int
    name: str  # the username
    slug: str
    display_name: str
    email: str
    active: bool = True


@dataclass
class DcProject:
    id: int
    key: str  # personal projects: "~" + owner slug, upper-cased
    name: str
    description: str
    public: bool
    type: str = "NORMAL"  # NORMAL | PERSONAL
    owner_id: int | None = None  # personal projects only


@dataclass
class DcCommit:
    id: str
    author_name: str
    author_email: str
    author_ts: int
    committer_name: str
    committer_email: str
    committer_ts: int
    message: str
    parents: list[str] = field(default_factory=list)
    author_id: int | None = None  # the Bitbucket user whose e-mail matches, if any


@dataclass
class DcTag:
    name: str
    target: str  # the peeled commit
    hash: str | None = None  # tag object sha; None for lightweight tags


@dataclass
class DcBuild:
    """A build status reported for a commit (the build-status API)."""

    key: str
    state: str  # BUILD_STATES
    name: str
    url: str
    description: str
    date_added: int
    ref: str | None = None
    build_number: str = ""
    duration: int | None = None


@dataclass
class DcComment:
    """A PR comment; ``replies`` nest to any depth. BLOCKER severity is a task (7.2+)."""

    id: int
    author_id: int
    text: str
    created: int
    updated: int
    version: int = 0
    severity: str = "NORMAL"  # NORMAL | BLOCKER
    state: str = "OPEN"  # OPEN | RESOLVED
    anchor: dict | None = None  # file/line anchor (path, line, lineType, fileType, ...)
    replies: list[DcComment] = field(default_factory=list)
    deleted: bool = False  # hidden from the API; ``updated`` is when it went
    resolved: int | None = None  # a resolved task: when (``resolvedDate``) and by whom
    resolver_id: int | None = None


@dataclass
class DcParticipant:
    user_id: int
    role: str  # AUTHOR | REVIEWER | PARTICIPANT
    status: str = "UNAPPROVED"  # REVIEW_STATUSES
    last_reviewed_commit: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == "APPROVED"


@dataclass
class DcActivity:
    """One PR activity. ``data`` carries the action's extras (see dc_render.activity)."""

    id: int
    created: int
    user_id: int
    action: str  # ACTIONS
    comment_id: int | None = None  # COMMENTED: the root of the thread
    data: dict = field(default_factory=dict)


@dataclass
class DcPullRequest:
    id: int
    version: int
    title: str
    description: str
    state: str  # PR_STATES
    author_id: int
    from_repo_id: int
    from_branch: str
    from_commit: str
    to_branch: str
    to_commit: str
    created: int
    updated: int
    closed: int | None = None
    merge_commit: str | None = None
    reviewers: list[DcParticipant] = field(default_factory=list)
    participants: list[DcParticipant] = field(default_factory=list)
    comments: list[DcComment] = field(default_factory=list)  # thread roots, oldest first
    activities: list[DcActivity] = field(default_factory=list)  # oldest first
    commit_ids: list[str] = field(default_factory=list)  # newest first
    draft: bool = False  # Data Center 8.x draft pull requests

    def all_comments(self, deleted: bool = False) -> Iterator[DcComment]:
        """Every comment of every thread, depth first; deleted ones only when asked."""
        stack = list(reversed(self.comments))
        while stack:
            c = stack.pop()
            if c.deleted and not deleted:
                continue
            yield c
            stack.extend(reversed(c.replies))

    def comment(self, comment_id: int) -> DcComment | None:
        return next((c for c in self.all_comments() if c.id == comment_id), None)

    def person(self, user_id: int) -> DcParticipant | None:
        """The reviewer or participant entry of a user (never the author)."""
        return next((p for p in self.reviewers + self.participants if p.user_id == user_id), None)


@dataclass
class DcRepository:
    id: int
    slug: str
    name: str
    description: str
    project_id: int
    public: bool
    forkable: bool
    default_branch: str
    hierarchy_id: str
    state: str = "AVAILABLE"
    commits: dict[str, DcCommit] = field(default_factory=dict)  # creation order
    branches: dict[str, str] = field(default_factory=dict)  # name -> head
    tags: dict[str, DcTag] = field(default_factory=dict)
    builds: dict[str, list[DcBuild]] = field(default_factory=dict)  # commit -> statuses
    labels: list[str] = field(default_factory=list)  # lowercase, 3-50 chars of [a-z0-9-]
    pull_requests: dict[int, DcPullRequest] = field(default_factory=dict)
    last_pr_id: int = 0  # PR ids are never reused, even after a delete


@dataclass
class DcSettings:
    """Switches where the Server documentation is silent (docs/simulator.md, Server section)."""

    newest_by: str = "updated"  # what order=NEWEST/OLDEST sorts by: "updated" | "created"
    comment_bumps_pr: bool = True  # comments, replies, edits, deletes bump PR updatedDate
    activities_newest_first: bool = True  # activity pages newest first (else oldest first)
    comments_need_path: bool = True  # GET .../comments without ``path`` is a 400
    sparse_paging: bool = False  # nextPageStart skips ahead (never start + size)
    iso_dates: bool = False  # times as ISO-8601 text ("2018-07-05T05:01:10+0000"), not epoch ms


@dataclass
class DcWorld:
    """All of a simulated Bitbucket Server: the single source of truth."""

    users: dict[int, DcUser] = field(default_factory=dict)
    projects: dict[int, DcProject] = field(default_factory=dict)
    repositories: dict[int, DcRepository] = field(default_factory=dict)
    settings: DcSettings = field(default_factory=DcSettings)
    clock: int = 1767225600000  # epoch ms of the last moment handed out (2026-01-01)
    jira_url: str = "https://jira.example.com"
    next_user_id: int = 1
    next_project_id: int = 1
    next_repo_id: int = 1
    next_comment_id: int = 1
    next_activity_id: int = 1

    def tick(self, ms: int = 1000) -> int:
        """Advance the clock and return the new time."""
        self.clock += max(1, ms)
        return self.clock

    def project_by_key(self, key: str) -> DcProject | None:
        wanted = key.upper()
        return next((p for p in self.projects.values() if p.key.upper() == wanted), None)

    def repo(self, key: str, slug: str) -> DcRepository | None:
        project = self.project_by_key(key)
        if project is None:
            return None
        wanted = slug.lower()
        return next(
            (
                r
                for r in self.repositories.values()
                if r.project_id == project.id and r.slug.lower() == wanted
            ),
            None,
        )

    def user_by_slug(self, slug: str) -> DcUser | None:
        return next((u for u in self.users.values() if u.slug == slug), None)


def expected_updated(pr: DcPullRequest, settings: DcSettings) -> int:
    """The PR's updatedDate implied by its history (every activity; comments per the switch)."""
    times = [pr.created]
    times += [
        a.created for a in pr.activities if a.action != "COMMENTED" or settings.comment_bumps_pr
    ]
    if settings.comment_bumps_pr:
        times += [c.updated for c in pr.all_comments(deleted=True)]
    return max(times)


def expected_version(pr: DcPullRequest) -> int:
    """Versions start at 0 and count the entity changes (§5: UPDATED, RESCOPED, state moves)."""
    return sum(1 for a in pr.activities if a.action in VERSION_ACTIONS)


def jira_keys(text: str) -> list[str]:
    """Jira issue keys mentioned in a text, in order, without repeats."""
    return list(dict.fromkeys(JIRA_KEY.findall(text or "")))


def commit_log(repo: DcRepository, until: str, since: str | None = None) -> list[str]:
    """``git log since..until``: newest committer time first, children before parents."""
    exclude = [since] if since else []
    return log_order(repo.commits, [until], exclude, lambda sha: repo.commits[sha].committer_ts)
