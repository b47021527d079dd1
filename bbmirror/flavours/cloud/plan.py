"""Bitbucket Cloud's order of work as data, with what each step costs.

Per workspace: the workspace (it checks the credential: no GET /user), its members, projects
and repositories. Per repository: refs, then the commits they reach, the pull requests (and
their children), then the issue tracker's lists when the repository has one.
"""

from __future__ import annotations

import math
from typing import Any

from bbmirror.engine.plan import Level, Plan, Step
from bbmirror.flavours.cloud.streams import CLOUD_STREAMS
from bbmirror.rows import to_utc

PAGE = 100  # the API's largest page
ACTIVITY_PAGE = 50  # pull request activity pages are capped lower
TRACKER = "the repository has an issue tracker"


def pages(n: int, size: int = PAGE) -> int:
    """A list whose emptiness the API can't announce costs one request even when empty."""
    return max(1, math.ceil(n / size))


def _workspaces(world: Any) -> list[tuple[Any, list[Any]]]:
    repos = list(world.repositories.values())
    return [(ws, [r for r in repos if r.workspace == ws.slug]) for ws in world.workspaces.values()]


def _reachable(repo: Any) -> set[str]:
    """The commits the commit stream mirrors: those the branches and tags reach."""
    stack = [*repo.branches.values(), *(t.target for t in repo.tags.values())]
    seen: set[str] = set()
    while stack:
        sha = stack.pop()
        if sha in seen or sha not in repo.commits:
            continue
        seen.add(sha)
        stack.extend(repo.commits[sha].parents)
    return seen


def _pullrequests(repo: Any) -> int:
    """The list, then per PR its statuses (no count says there are none) and, when its source
    or destination commit is not mirrored, its commits (flavours/cloud/pr_children.py).
    Activity and comments come with the feed (``pr_feed``), which is trusted up to its newest
    entry: a PR updated later reads its own lists."""
    total = pages(len(repo.pullrequests))
    mirrored = _reachable(repo)
    top = max((to_utc(a.date) for p in repo.pullrequests.values() for a in p.activity), default="")
    for pr in repo.pullrequests.values():
        total += 1
        if to_utc(pr.updated_on) > top:  # changed after the feed's newest entry: its own lists
            total += pages(len(pr.comments)) if pr.comments else 0
            total += pages(len(pr.activity), ACTIVITY_PAGE)
        if not {pr.source_commit, pr.destination_commit} <= mirrored:
            total += pages(len([h for h in pr.commit_hashes if h in repo.commits]))
    return total


def _feed(repo: Any) -> int:
    """The repository's activity feed, whole (every entry, comments included)."""
    return pages(sum(len(pr.activity) for pr in repo.pullrequests.values()), ACTIVITY_PAGE)


def _issues(repo: Any) -> int:
    if not repo.has_issues:
        return 0
    total = pages(len(repo.issues))
    for issue in repo.issues.values():
        total += pages(len(issue.comments)) + pages(len(issue.changes))
        total += pages(len(issue.attachments))
    return total


def _pullrequests_noop(repo: Any) -> int:
    """The list since the watermark, and the statuses of each open PR whose source commit is
    still building (engine/freshness.py re-reads those every run)."""
    return 1 + sum(
        pr.state == "OPEN"
        and any(s.state == "INPROGRESS" for s in repo.statuses.get(pr.source_commit, ()))
        for pr in repo.pullrequests.values()
    )


def _tracker(repo: Any) -> int:
    return int(bool(repo.has_issues))


WORKSPACE = Level(
    "workspace",
    (
        Step("workspaces", least=1),
        Step("members", after=("workspaces",), least=lambda u: pages(len(u[0].members))),
        Step("projects", after=("workspaces",), least=lambda u: pages(len(u[0].projects))),
        Step("repositories", after=("workspaces",), least=lambda u: pages(len(u[1]))),
    ),
    _workspaces,
)

REPOSITORY = Level(
    "repository",
    (
        Step("branches", least=lambda r: pages(len(r.branches))),
        Step("tags", least=lambda r: pages(len(r.tags))),
        Step(
            "commits",
            after=("branches", "tags"),
            when="the repository has refs; only new heads are walked",
            noop=0,
            least=lambda r: pages(len(r.commits)),
        ),
        Step("default_reviewers", least=lambda r: pages(len(r.default_reviewers))),
        Step("pr_feed", least=_feed),  # a no-op run reads its first page
        Step("pullrequests", after=("pr_feed",), noop=_pullrequests_noop, least=_pullrequests),
        Step("milestones", when=TRACKER, noop=_tracker, least=_tracker),
        Step("versions", when=TRACKER, noop=_tracker, least=_tracker),
        Step("components", when=TRACKER, noop=_tracker, least=_tracker),
        Step("issues", when=TRACKER, noop=_tracker, least=_issues),
    ),
    lambda world: world.repositories.values(),
)

CLOUD_PLAN = Plan("cloud", CLOUD_STREAMS, (WORKSPACE, REPOSITORY))
