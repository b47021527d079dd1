"""Bitbucket Data Center's order of work as data, with what each step costs.

Discovery: every repository the credential sees (one listing), or the named projects' or
repositories' (read by the preflight). Per repository: refs, then the commit ranges they moved,
the build statuses of new tips (and of tips still building), then the pull requests, newest
first (the newest page reaches below the watermark; the open ones are read again), then the
Jira issues of the changed ones whose commits name a candidate key.
"""

from __future__ import annotations

from typing import Any

from bbmirror.engine.plan import Level, Plan, Step
from bbmirror.flavours.server.streams import LIMIT, SERVER_STREAMS

NAMED = "projects are named (the preflight read them)"


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
        Step("all_repositories", when="nothing is named"),
        Step("projects", when=NAMED, noop=0),
        Step("repositories", after=("projects",), when=NAMED, noop=0),
    ),
    lambda world: [world],
)

REPOSITORY = Level(
    "repository",
    (
        Step("branches"),
        Step("tags"),
        Step("commits", after=("branches", "tags"), when="the repository has refs", noop=0),
        Step("statuses", after=("commits",), when="new tips, or tips building", noop=_building),
        Step("labels"),  # one request: a repository's labels fit one page
        Step("pullrequests", noop=_pull_requests),
        # After the walk: PRs whose markers moved and whose commits name a candidate key.
        Step("pr_jira", after=("pullrequests",), when="changed PRs naming a key", noop=0),
    ),
    lambda world: world.repositories.values(),
)

# The login check (GET /users?limit=1) when nothing is named.
SERVER_PLAN = Plan("server", SERVER_STREAMS, (DISCOVERY, REPOSITORY), fixed_noop=1)
