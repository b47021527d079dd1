"""Bitbucket Cloud's order of work as data, with what each step costs.

Per workspace: the workspace (it checks the credential: no GET /user), its members, projects
and repositories. Per repository: refs (branches and tags in one list), then the commits they
reach, the pull requests (and their children), then the issue tracker's lists when the
repository has one. The small settings lists are read on a cadence, not every run.
"""

from __future__ import annotations

import math
from typing import Any

from bbmirror.engine.plan import Level, Plan, Step
from bbmirror.flavours.cloud.streams import CLOUD_STREAMS

PAGE = 100  # the API's largest page
ACTIVITY_PAGE = 50  # pull request activity pages are capped lower
TRACKER = "the repository has an issue tracker"
SETTINGS = "due: read every settings_every (24 h), on --full and --reconcile (cadence.py)"
EXPORT_JOB = 3  # POST …/issues/export, one poll while it runs, the zip (export_job.py)


def pages(n: int, size: int = PAGE) -> int:
    """A list whose emptiness the API can't announce costs one request even when empty."""
    return max(1, math.ceil(n / size))


def _workspaces(world: Any) -> list[tuple[Any, list[Any]]]:
    repos = list(world.repositories.values())
    return [(ws, [r for r in repos if r.workspace == ws.slug]) for ws in world.workspaces.values()]


def _members(unit: tuple[Any, list[Any]]) -> int:
    return pages(len(unit[0].members))


def _projects(unit: tuple[Any, list[Any]]) -> int:
    return pages(len(unit[0].projects))


def _repositories(unit: tuple[Any, list[Any]]) -> int:
    return pages(len(unit[1]))


def _pullrequests(repo: Any) -> int:
    """The list, then per PR: comments (free when `comment_count` is 0), activity, commits,
    statuses (no count says there are none)."""
    total = pages(len(repo.pullrequests))
    for pr in repo.pullrequests.values():
        total += pages(len(pr.comments)) if pr.comments else 0
        total += pages(len(pr.activity), ACTIVITY_PAGE) + pages(len(pr.commit_hashes)) + 1
    return total


def _issues(repo: Any) -> int:
    """The list; then each issue's three child lists, or (first sync, with admin rights) the
    export job's POST, poll and zip and the child lists of issues that have any children."""
    if not repo.has_issues:
        return 0
    each = exported = 0
    for issue in repo.issues.values():
        each += pages(len(issue.comments)) + pages(len(issue.changes))
        each += pages(len(issue.attachments))
        for children in (issue.comments, issue.changes, issue.attachments):
            exported += pages(len(children)) if children else 0
    return pages(len(repo.issues)) + min(each, EXPORT_JOB + exported)


def _pullrequests_noop(repo: Any) -> int:
    """The list since the watermark, and the statuses of each open PR whose source commit is
    still building (engine/freshness.py re-reads those every run)."""
    return 1 + sum(
        pr.state == "OPEN"
        and any(s.state == "INPROGRESS" for s in repo.statuses.get(pr.source_commit, ()))
        for pr in repo.pullrequests.values()
    )


def _refs(repo: Any) -> int:
    """Branches and tags in one list, every run: a page per 100 refs."""
    return pages(len(repo.branches) + len(repo.tags))


def _tracker(repo: Any) -> int:
    return int(bool(repo.has_issues))


WORKSPACE = Level(
    "workspace",
    (
        Step("workspaces", least=1),
        Step("members", after=("workspaces",), noop=_members, least=_members),
        Step("projects", after=("workspaces",), noop=_projects, least=_projects),
        Step("repositories", after=("workspaces",), noop=_repositories, least=_repositories),
    ),
    _workspaces,
)

REPOSITORY = Level(
    "repository",
    (
        # One `refs` list carries branches and tags (flavours/cloud/refs.py).
        Step("branches", noop=_refs, least=_refs),
        Step("tags", when="read with branches, in the same list", noop=0, least=0),
        Step(
            "commits",
            after=("branches", "tags"),
            when="the repository has refs; only new heads are walked",
            noop=0,
            least=lambda r: pages(len(r.commits)),
        ),
        Step(
            "default_reviewers",
            when=SETTINGS,
            noop=0,
            least=lambda r: pages(len(r.default_reviewers)),
        ),
        Step("pullrequests", noop=_pullrequests_noop, least=_pullrequests),
        Step("milestones", when=f"{TRACKER}; {SETTINGS}", noop=0, least=_tracker),
        Step("versions", when=f"{TRACKER}; {SETTINGS}", noop=0, least=_tracker),
        Step("components", when=f"{TRACKER}; {SETTINGS}", noop=0, least=_tracker),
        Step("issues", when=TRACKER, noop=_tracker, least=_issues),
    ),
    lambda world: world.repositories.values(),
)

CLOUD_PLAN = Plan("cloud", CLOUD_STREAMS, (WORKSPACE, REPOSITORY))
