"""A replay server: real captured Bitbucket pages served by path, for a real ``bbmirror sync``.

The corpus (tests/fixtures/real/) holds real objects from several repositories, not one
coherent repository, so ``data_center_replay`` assembles one: the real repository, pull request
(ISO-8601 dates), its real activity page, a real commit and real build statuses; where two
captures must agree (the branch's head, the commit's parent), the value is set, and the shapes
stay as captured. Query strings are ignored; an unknown path answers Bitbucket's 404 body and
is logged, so a test can prove nothing was asked for that the replay could not answer.
"""

from __future__ import annotations

import copy
from typing import Any

from realcorpus import load
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API = "/rest/api/1.0"
REPO = f"{API}/projects/PRJ/repos/my-repo"


def page(values: list[Any], limit: int = 25) -> dict:
    """A Server page holding every value (the last page)."""
    return {"size": len(values), "limit": limit, "isLastPage": True, "values": values, "start": 0}


def data_center_replay() -> dict[str, Any]:
    """Path -> body for one repository assembled from real Data Center objects."""
    commit = load("server/commit.json")
    sha = commit["id"]
    branches = load("server/branches.json")
    for ref in branches["values"]:
        ref["latestCommit"] = ref["latestChangeset"] = sha  # agree with the captured commit
    pr = load("server/pullrequest_iso_dates.json")
    author = copy.deepcopy(pr["author"]["user"])
    return {
        f"{API}/users": page([author], limit=1),
        REPO: load("server/repository.json"),
        f"{REPO}/branches": branches,
        f"{REPO}/tags": page([]),
        f"{REPO}/commits": page([commit]),
        f"/rest/build-status/1.0/commits/{sha}": load("server/build_statuses.json"),
        f"{REPO}/pull-requests": page([pr]),
        f"{REPO}/pull-requests/1/activities": load("server/pullrequest_activities.json"),
        f"{REPO}/pull-requests/1/commits": page([commit]),
        "/rest/jira/1.0/projects/PRJ/repos/my-repo/pull-requests/1/issues": [],
    }


def replay_app(bodies: dict[str, Any]) -> Starlette:
    """A Starlette app answering each known path with its body; ``state.log`` lists requests."""

    async def answer(request: Request) -> JSONResponse:
        path = request.url.path
        request.app.state.log.append((path, path in bodies))
        if path not in bodies:
            errors = [{"context": None, "message": f"{path} does not exist", "exceptionName": None}]
            return JSONResponse({"errors": errors}, status_code=404)
        return JSONResponse(bodies[path])

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET"])])
    app.state.log = []
    return app
