"""A replay server: real captured Bitbucket pages served by path, for a real ``bbmirror sync``.

The corpus (tests/fixtures/real/) holds real objects from several repositories, not one
coherent repository, so each flavour's replay assembles one from real objects; where two
captures must agree (a branch's head, a PR's comment count), the value is set, and the shapes
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
    """Path -> body for one repository assembled from real Data Center objects: the real
    repository, pull request (ISO-8601 dates), its activity page, a commit, build statuses."""
    commit = load("server/commit.json")
    sha = commit["id"]
    branches = load("server/branches.json")
    for ref in branches["values"]:
        ref["latestCommit"] = ref["latestChangeset"] = sha  # agree with the captured commit
    pr = load("server/pullrequest_iso_dates.json")
    author = copy.deepcopy(pr["author"]["user"])
    statuses = load("server/build_statuses.json")["values"]
    fields = {"SUCCESSFUL": "successful", "FAILED": "failed", "INPROGRESS": "inProgress"}
    fields |= {"CANCELLED": "cancelled", "UNKNOWN": "unknown"}
    stats = {name: sum(s["state"] == state for s in statuses) for state, name in fields.items()}
    return {
        f"{API}/users": page([author], limit=1),
        REPO: load("server/repository.json"),
        f"{REPO}/branches": branches,
        f"{REPO}/tags": page([]),
        f"{REPO}/labels": page([]),  # no label captured: an unlabelled repository
        f"{REPO}/commits": page([commit]),
        "/rest/build-status/1.0/commits/stats": {sha: stats},  # POST, documented shape
        f"/rest/build-status/1.0/commits/{sha}": load("server/build_statuses.json"),
        f"{REPO}/pull-requests": page([pr]),
        f"{REPO}/pull-requests/1/activities": load("server/pullrequest_activities.json"),
        f"{REPO}/pull-requests/1/commits": page([commit]),
        "/rest/jira/1.0/projects/PRJ/repos/my-repo/pull-requests/1/issues": [],
        # no diff was captured: one file in the JSON diff's documented shape (§2.10)
        f"{REPO}/pull-requests/1/diff": _dc_diff(pr),
    }


def _dc_diff(pr: dict) -> dict:
    """A JSON diff of one modified file, two lines added and one removed (assembled)."""
    path = {"components": ["README.md"], "name": "README.md", "toString": "README.md"}
    lines = [{"source": 1, "destination": 1, "line": "text", "truncated": False}]
    hunk = {
        "sourceLine": 1,
        "sourceSpan": 1,
        "destinationLine": 1,
        "destinationSpan": 2,
        "segments": [
            {"type": "REMOVED", "lines": lines, "truncated": False},
            {"type": "ADDED", "lines": lines * 2, "truncated": False},
        ],
        "truncated": False,
    }
    diff = {"source": path, "destination": path, "hunks": [hunk], "truncated": False}
    return {
        "fromHash": pr["toRef"]["latestCommit"],
        "toHash": pr["fromRef"]["latestCommit"],
        "contextLines": 0,
        "whitespace": "SHOW",
        "diffs": [diff],
        "truncated": False,
    }


CLOUD_REPO = "/2.0/repositories/amuniz/test-repos"


def cloud_page(values: list[Any]) -> dict:
    """A Cloud page holding every value (no ``next``)."""
    return {"pagelen": 50, "values": values, "page": 1, "size": len(values)}


def cloud_replay() -> dict[str, Any]:
    """Path -> body for one Cloud repository assembled from real Cloud objects.

    The repository, its pull request, branch and commits are one capture set (amuniz/test-repos);
    the comment, approval, status and member come from other repositories and take their place
    here through the context the sync gives them (the PR they are listed under).
    """
    repository = load("cloud/repository.json")
    branch = load("cloud/branch.json")
    member = load("cloud/workspace_member.json")
    workspace = {**member["workspace"], "slug": "amuniz", "name": "amuniz"}
    member["workspace"] = workspace
    pr = load("cloud/pullrequest.json")
    pr["comment_count"] = 1  # agree with the comment page served below
    return {
        "/2.0/user": repository["owner"],
        "/2.0/workspaces/amuniz": workspace,
        "/2.0/workspaces/amuniz/members": cloud_page([member]),
        "/2.0/workspaces/amuniz/projects": cloud_page([]),
        CLOUD_REPO: repository,
        f"{CLOUD_REPO}/refs": cloud_page([branch]),  # branches and tags in one list (§3.18)
        # the captured owner, a real condensed user, stands as the one default reviewer
        f"{CLOUD_REPO}/default-reviewers": cloud_page([repository["owner"]]),
        f"{CLOUD_REPO}/commits": cloud_page([branch["target"], load("cloud/commit.json")]),
        f"{CLOUD_REPO}/pullrequests": cloud_page([pr]),
        f"{CLOUD_REPO}/pullrequests/2": pr,
        f"{CLOUD_REPO}/pullrequests/2/comments": load("cloud/pullrequest_comments.json"),
        f"{CLOUD_REPO}/pullrequests/2/activity": cloud_page([load("cloud/activity_approval.json")]),
        f"{CLOUD_REPO}/pullrequests/2/commits": cloud_page([load("cloud/commit.json")]),
        f"{CLOUD_REPO}/pullrequests/2/statuses": cloud_page([load("cloud/commit_status.json")]),
        f"{CLOUD_REPO}/pullrequests/activity": cloud_page(_feed(2)),
        f"{CLOUD_REPO}/pipelines": cloud_page([]),  # never ran a pipeline: an empty list
        f"{CLOUD_REPO}/environments": cloud_page([]),  # no deployment environments
        f"{CLOUD_REPO}/pullrequests/2/tasks": cloud_page([]),  # the captured PR has no tasks
    }


def _feed(number: int) -> list[dict]:
    """The repository's activity feed: the same real approval and comment, each entry naming
    its PR itself (§3.13), so the borrowed ones are pointed at the replayed PR."""
    approval = load("cloud/activity_approval.json")
    comment = load("cloud/pullrequest_comments.json")["values"][0]
    ref = {**comment["pullrequest"], "id": number}
    return [
        {"comment": {**comment, "pullrequest": ref}, "pull_request": ref},
        {**approval, "pull_request": {**approval["pull_request"], "id": number}},
    ]


def replay_app(bodies: dict[str, Any]) -> Starlette:
    """A Starlette app answering each known path with its body; ``state.log`` lists requests."""

    async def answer(request: Request) -> JSONResponse:
        path = request.url.path.rstrip("/")
        request.app.state.log.append((path, path in bodies))
        if path in bodies:
            return JSONResponse(bodies[path])
        if path.startswith("/2.0/"):
            return JSONResponse({"type": "error", "error": {"message": "Not found"}}, 404)
        errors = [{"context": None, "message": f"{path} does not exist", "exceptionName": None}]
        return JSONResponse({"errors": errors}, status_code=404)

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])
    app.state.log = []
    return app
