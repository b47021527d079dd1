"""Bitbucket Data Center's order of work as data, with what each step costs.

Discovery: every repository the credential sees (one listing), or the named projects' or
repositories' (read by the preflight). Per repository: refs, then the commit ranges they moved,
the build statuses of new tips (and of tips still building), then the pull requests, newest
first (the newest page reaches below the watermark; the open ones are read again).
"""

from __future__ import annotations

from typing import Any

from bbmirror.engine.plan import Level, Plan, Step
from bbmirror.flavours.server.streams import SERVER_STREAMS

NAMED = "projects are named (the preflight read them)"


def _building(repo: Any) -> int:
    """Tips whose build is still in progress are asked again, in one bulk stats request
    (flavours/server/statuses.py); unchanged counts list nothing."""
    tips = set(repo.branches.values()) | {t.target for t in repo.tags.values()}
    return int(any(b.state == "INPROGRESS" for tip in tips for b in repo.builds.get(tip, ())))


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
        Step("pullrequests", noop=2),
    ),
    lambda world: world.repositories.values(),
)

# The login check (GET /users?limit=1) when nothing is named.
SERVER_PLAN = Plan("server", SERVER_STREAMS, (DISCOVERY, REPOSITORY), fixed_noop=1)
