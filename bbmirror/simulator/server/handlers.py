"""Data Center API handlers for projects, repositories, users, refs, commits and builds."""

from __future__ import annotations

import json

from starlette.responses import Response

from bbmirror.simulator.common.responses import JSONResponse
from bbmirror.simulator.server import render
from bbmirror.simulator.server.call import (
    EXC,
    ApiError,
    Call,
    Doc,
    _log,
)
from bbmirror.simulator.server.pulls import commit_page

# RestBuildStats: state → field (CANCELLED and UNKNOWN exist since 7.x/8.x; zero when unused).
STAT_STATES = {
    "SUCCESSFUL": "successful",
    "FAILED": "failed",
    "INPROGRESS": "inProgress",
    "CANCELLED": "cancelled",
    "UNKNOWN": "unknown",
}


def application_properties(c: Call) -> Response:
    return JSONResponse(
        {
            "version": "7.21.0",
            "buildNumber": "7021000",
            "buildDate": "1673000000000",
            "displayName": "Bitbucket",
        }
    )


def projects(c: Call) -> Response:
    name = (c.arg("name") or "").lower()
    found = [
        p
        for p in c.world.projects.values()
        if c.visible_project(p) and name in p.name.lower() and p.type == "NORMAL"
    ]
    return c.page(found, lambda p: render.project(c.world, p, c.base), "projects")


def get_project(c: Call) -> Response:
    return JSONResponse(render.project(c.world, c.project(), c.base))


def project_repos(c: Call) -> Response:
    project = c.project()
    found = [
        r for r in c.world.repositories.values() if r.project_id == project.id and c.visible(r)
    ]
    return c.page(found, lambda r: render.repository(c.world, r, c.base), "repos")


def all_repos(c: Call) -> Response:
    name = (c.arg("name") or "").strip().lower()
    project_name = (c.arg("projectname") or "").strip().lower()
    state = c.arg("state")
    visibility = (c.arg("visibility") or "").lower()
    if visibility not in ("", "public", "private"):
        raise ApiError(400, "visibility must be public or private.", "visibility")
    found = []
    for r in c.world.repositories.values():
        p = c.world.projects[r.project_id]
        if not c.visible(r) or name not in r.name.lower() or project_name not in p.name.lower():
            continue
        if (state and r.state != state) or (visibility and r.public != (visibility == "public")):
            continue
        found.append(r)
    return c.page(found, lambda r: render.repository(c.world, r, c.base), "repos")


def get_repo(c: Call) -> Response:
    return JSONResponse(render.repository(c.world, c.repo(), c.base))


def users(c: Call) -> Response:
    text = (c.arg("filter") or "").lower()
    found = [
        u
        for u in c.world.users.values()
        if not text or any(text in s.lower() for s in (u.name, u.display_name, u.email))
    ]
    return c.page(found, lambda u: render.user(u, c.base), "users")


def get_user(c: Call) -> Response:
    found = c.world.user_by_slug(c.params["user"])
    if found is None:
        message = f"User {c.params['user']} does not exist."
        raise ApiError(404, message, exc=EXC + "user.NoSuchUserException")
    return JSONResponse(render.user(found, c.base))


def labels(c: Call) -> Response:
    """The repository's labels, by name."""
    repo = c.repo()
    return c.page(sorted(repo.labels), lambda n: {"name": n}, "labels")


def branches(c: Call) -> Response:
    repo = c.repo()
    order = c.choice("orderBy", "ALPHABETICAL", ("ALPHABETICAL", "MODIFICATION"))
    text = (c.arg("filterText") or "").lower()
    names = [n for n in repo.branches if text in n.lower()]
    if order == "MODIFICATION":
        names.sort(key=lambda n: (-repo.commits[repo.branches[n]].committer_ts, n))
    else:
        names.sort()
    return c.page(names, lambda n: render.branch(repo, n), "branches")


def default_branch(c: Call) -> Response:
    repo = c.repo()
    if repo.default_branch not in repo.branches:
        raise ApiError(
            404,
            "The default branch does not exist.",
            exc=EXC + "repository.NoDefaultBranchException",
        )
    return JSONResponse(render.minimal_ref(repo.default_branch))


def legacy_default_branch(c: Call) -> Response:
    repo = c.repo()
    if repo.default_branch not in repo.branches:
        return Response(status_code=204)
    return JSONResponse(render.branch(repo, repo.default_branch))


def tags(c: Call) -> Response:
    repo = c.repo()
    order = c.choice("orderBy", "ALPHABETICAL", ("ALPHABETICAL", "MODIFICATION"))
    text = (c.arg("filterText") or "").lower()
    found = [t for n, t in repo.tags.items() if text in n.lower()]
    if order == "MODIFICATION":
        found.sort(key=lambda t: (-repo.commits[t.target].committer_ts, t.name))
    else:
        found.sort(key=lambda t: t.name)
    return c.page(found, render.tag, "tags")


def get_tag(c: Call) -> Response:
    repo = c.repo()
    found = repo.tags.get(c.params["name"])
    if found is None:
        raise ApiError(
            404,
            f"Tag {c.params['name']} does not exist.",
            exc=EXC + "repository.NoSuchTagException",
        )
    return JSONResponse(render.tag(found))


def commits(c: Call) -> Response:
    repo = c.repo()
    merges = (c.arg("merges") or "include").lower()
    if merges not in ("include", "exclude", "only"):
        raise ApiError(400, "merges must be one of include, exclude, only.", "merges")
    ignore = c.flag("ignoreMissing")
    until_ref = c.arg("until") or repo.default_branch
    try:
        until = c.resolve(repo, until_ref, "until")
    except ApiError:
        if not ignore and c.arg("until") is not None:
            raise
        return c.page([], lambda x: x, "commits")
    since = None
    if c.arg("since"):
        try:
            since = c.resolve(repo, c.arg("since") or "", "since")
        except ApiError:
            if not ignore:
                raise
    order = _log(c.state.log_cache, repo, until, since)
    if merges != "include":
        want = merges == "only"
        order = [s for s in order if (len(repo.commits[s].parents) > 1) == want]
    return commit_page(c, repo, order)


def get_commit(c: Call) -> Response:
    repo = c.repo()
    sha = c.resolve(repo, c.params["sha"], "commitId", refs=False)
    return JSONResponse(render.commit(c.world, repo.commits[sha], c.base))


def commit_build(c: Call) -> Response:
    repo = c.repo()
    sha = c.resolve(repo, c.params["sha"], "commitId", refs=False)
    key = c.arg("key")
    if key is None:
        raise ApiError(400, "A build key is required.", "key")
    found = next((b for b in repo.builds.get(sha, []) if b.key == key), None)
    if found is None:
        raise ApiError(
            404, f"No build status with key {key}.", exc=EXC + "build.NoSuchBuildStatusException"
        )
    return JSONResponse(render.build_detail(c.world, repo, sha, found, c.base))


def _builds_for(c: Call, sha: str) -> list:
    found = []
    for repo in c.world.repositories.values():
        if c.visible(repo):
            found.extend(repo.builds.get(sha, []))
    found.sort(key=lambda b: (-b.date_added, b.key))
    return found


def build_statuses(c: Call) -> Response:
    builds = _builds_for(c, c.params["sha"])
    return c.page(builds, lambda b: render.build(b, c.world), "builds")


def _stats(builds: list) -> Doc:
    """RestBuildStats: how many builds of a commit are in each state."""
    count = {state: sum(1 for b in builds if b.state == state) for state in STAT_STATES}
    return {name: count[state] for state, name in STAT_STATES.items()}


def build_stats(c: Call) -> Response:
    return JSONResponse(_stats(_builds_for(c, c.params["sha"])))


def build_stats_many(c: Call) -> Response:
    """``POST commits/stats``: a JSON array of full commit ids in, ``{id: stats}`` out; a
    commit without builds is left out of the answer (bitbucket-server.md §2.11)."""
    try:
        ids = json.loads(c.body or b"null")
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "The request body must be a JSON array of commit ids.")
    if len(ids) > c.config.max_stats_commits:
        raise ApiError(
            400, f"At most {c.config.max_stats_commits} commits can be requested at once."
        )
    answer = {}
    for sha in dict.fromkeys(ids):
        found = _builds_for(c, sha)
        if found:
            answer[sha] = _stats(found)
    return JSONResponse(answer)
