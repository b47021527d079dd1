"""Bitbucket Data Center's order of work as data, with what each step costs.

Discovery: every repository the credential sees (one listing), or the named projects' or
repositories' (read by the preflight). Per repository: refs, then the commit ranges they moved,
the build statuses of new tips (and of tips still building), then the pull requests, newest
first (the newest page reaches below the watermark; the open ones are read again unless that
page was the whole list), then the Jira issues of the changed ones whose commits name a
candidate key. Every repository's lists come before any repository's per-parent reads.
"""

from __future__ import annotations

from typing import Any

from bbmirror.engine.plan import Level, Plan, Step, discovery
from bbmirror.engine.runner import commits_step
from bbmirror.flavours.server.discovery import nothing_named, projects_named, something_named
from bbmirror.flavours.server.streams import LIMIT, SERVER_STREAMS

NAMED = "projects or repositories are named (the preflight read them)"


def _building(repo: Any) -> int:
    """Tips whose build is still in progress are asked again, in one bulk stats request
    (flavours/server/statuses.py); unchanged counts list nothing."""
    tips = set(repo.branches.values()) | {t.target for t in repo.tags.values()}
    return int(any(b.state == "INPROGRESS" for tip in tips for b in repo.builds.get(tip, ())))


def _pull_requests(repo: Any) -> int:
    """The newest page; the open list too unless that page was the whole list (newest.py)."""
    return 1 if len(repo.pull_requests) <= LIMIT else 2


DISCOVERY = Level(
    "source",
    (
        discovery("all_repositories", when="nothing is named", holds=nothing_named),
        discovery("projects", when=NAMED, holds=projects_named, noop=0, hook="project_objects"),
        discovery(
            "repositories",
            after=("projects",),
            when=NAMED,
            holds=something_named,
            noop=0,
            hook="named_repositories",
        ),
    ),
    lambda world: [world],
    discover="source_units",
)

# Every repository's lists before any repository's per-parent reads (issue 14), as on Cloud.
LISTS = Level(
    "repository lists",
    (
        Step("branches", wanted_with=("commits",)),
        Step("tags", wanted_with=("commits",)),
        Step("labels"),  # one request: a repository's labels fit one page
        Step("pullrequests", part="parents", noop=_pull_requests),
    ),
    lambda world: world.repositories.values(),
    discover="repository_units",
)

DETAILS = Level(
    "repository details",
    (
        commits_step(),
        Step(
            "statuses",
            after=("commits",),
            when="new tips, or tips building",
            noop=_building,
            hook="read_statuses",
        ),
        Step(
            "pullrequests",
            part="children",
            when="children queued by the list (open, then recently updated PRs first)",
            noop=0,
        ),
        # After the PRs' commits: changed PRs whose commits name a candidate key (jira.py).
        Step(
            "pr_jira",
            after=("pullrequests",),
            when="changed PRs naming a key",
            hook="jira_issues",
            noop=0,
        ),
    ),
    lambda world: world.repositories.values(),
    discover="same_units",
    # Commits only PRs reach (pr_roots.py), then those nothing reaches any more, when due.
    leave=("read_pr_roots", "collect_unreachable"),
)

# The login check (GET /users?limit=1) when nothing is named.
SERVER_PLAN = Plan("server", SERVER_STREAMS, (DISCOVERY, LISTS, DETAILS), fixed_noop=1)
