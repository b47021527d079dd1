"""Data Center API handlers for pull requests: lists, activities, commits, comments, Jira issues."""

from __future__ import annotations

from starlette.responses import Response

from bbmirror.simulator.common.responses import JSONResponse
from bbmirror.simulator.server import render
from bbmirror.simulator.server.call import (
    EXC,
    JIRA_COMMIT_CAP,
    ApiError,
    Call,
    Doc,
    _jira_index,
)
from bbmirror.simulator.server.world import (
    PR_STATES,
    DcParticipant,
    DcRepository,
    jira_keys,
)


def pull_requests(c: Call) -> Response:
    repo = c.repo()
    state = c.choice("state", "OPEN", (*PR_STATES, "ALL"))
    order = c.choice("order", "NEWEST", ("NEWEST", "OLDEST"))
    direction = c.choice("direction", "INCOMING", ("INCOMING", "OUTGOING"))
    at = c.arg("at")
    text = (c.arg("filterText") or "").lower()
    if direction == "INCOMING":
        pool = [(repo, pr) for pr in repo.pull_requests.values()]
    else:
        pool = [
            (r, pr)
            for r in c.world.repositories.values()
            for pr in r.pull_requests.values()
            if pr.from_repo_id == repo.id
        ]
    found = []
    for target, pr in pool:
        if state != "ALL" and pr.state != state:
            continue
        branch = pr.to_branch if direction == "INCOMING" else pr.from_branch
        if at and at not in (branch, f"refs/heads/{branch}"):
            continue
        if text and text not in pr.title.lower() and text not in pr.description.lower():
            continue
        found.append((target, pr))
    by_created = c.world.settings.newest_by == "created"
    found.sort(
        key=lambda tp: (tp[1].created if by_created else tp[1].updated, tp[1].id),
        reverse=order == "NEWEST",
    )
    props = c.flag("withProperties", True)
    return c.page(
        found,
        lambda tp: render.pull_request(c.world, tp[0], tp[1], c.base, props),
        "pull-requests",
    )


def get_pull_request(c: Call) -> Response:
    repo, pr = c.pr()
    return JSONResponse(render.pull_request(c.world, repo, pr, c.base))


def activities(c: Call) -> Response:
    repo, pr = c.pr()
    shown = [
        a
        for a in pr.activities
        if a.action != "COMMENTED" or a.comment_id is None or pr.comment(a.comment_id)
    ]
    if c.world.settings.activities_newest_first:
        shown.reverse()
    from_id = c.arg("fromId")
    if from_id is not None:
        kind = c.arg("fromType")
        if kind not in ("COMMENT", "ACTIVITY"):
            raise ApiError(
                400, "fromType (COMMENT or ACTIVITY) is required with fromId.", "fromType"
            )
        attr = "comment_id" if kind == "COMMENT" else "id"
        index = next((i for i, a in enumerate(shown) if str(getattr(a, attr)) == from_id), None)
        if index is None:
            raise ApiError(404, f"No activity for {kind} {from_id}.", "fromId")
        shown = shown[index:]
    return c.page(shown, lambda a: render.activity(c.world, repo, pr, a, c.base), "activities")


def pr_commits(c: Call) -> Response:
    repo, pr = c.pr()
    return commit_page(c, repo, [s for s in pr.commit_ids if s in repo.commits])


def commit_page(c: Call, repo: DcRepository, shas: list[str]) -> Response:
    """A page of commits (a repository's log, a PR's commits), with ``withCounts`` answered."""
    extra: Doc = {}
    if c.flag("withCounts"):
        authors = {repo.commits[s].author_email for s in shas}
        extra = {"authorCount": len(authors), "totalCount": len(shas)}
    return c.page(
        shas, lambda s: render.commit(c.world, repo.commits[s], c.base), "commits", **extra
    )


def participants(c: Call) -> Response:
    repo, pr = c.pr()
    people = [DcParticipant(pr.author_id, "AUTHOR"), *pr.reviewers, *pr.participants]
    return c.page(people, lambda p: render.participant(c.world, p, c.base), "participants")


def pr_comments(c: Call) -> Response:
    repo, pr = c.pr()
    path = c.arg("path")
    if path is None and c.world.settings.comments_need_path:
        raise ApiError(400, "A path is required to list comments.", "path")
    anchor_state = c.choice("anchorState", "ACTIVE", ("ACTIVE", "ORPHANED", "ALL"))
    state = c.arg("state")
    roots = []
    for root in pr.comments:
        if root.deleted or (state and root.state != state.upper()):
            continue
        anchor = root.anchor or {}
        if path is not None and path not in (anchor.get("path"), anchor.get("srcPath")):
            continue
        orphaned = bool(anchor.get("orphaned"))
        if anchor_state != "ALL" and orphaned != (anchor_state == "ORPHANED"):
            continue
        roots.append(root)
    return c.page(roots, lambda r: render.comment(c.world, r, c.base, repo.id), "comments")


def _one_comment(c: Call, blocker: bool) -> Response:
    repo, pr = c.pr()
    found = pr.comment(c.params["cid"])
    if found is None or (blocker and found.severity != "BLOCKER"):
        message = f"Comment {c.params['cid']} does not exist."
        raise ApiError(404, message, exc=EXC + "comment.NoSuchCommentException")
    return JSONResponse(render.comment(c.world, found, c.base, repo.id))


def pr_comment(c: Call) -> Response:
    return _one_comment(c, blocker=False)


def blocker_comment(c: Call) -> Response:
    return _one_comment(c, blocker=True)


def blocker_comments(c: Call) -> Response:
    repo, pr = c.pr()
    state = c.arg("state")
    if state is not None:
        state = c.choice("state", "OPEN", ("OPEN", "RESOLVED"))
    found = [
        x
        for x in pr.all_comments()
        if x.severity == "BLOCKER" and (state is None or x.state == state)
    ]
    found.sort(key=lambda x: x.id)
    return c.page(found, lambda x: render.comment(c.world, x, c.base, repo.id), "comments")


def pr_issues(c: Call) -> Response:
    """Keys from the PR's first 100 commits (newest first), as a bare array (§4)."""
    repo, pr = c.pr()
    keys: dict[str, None] = {}
    for sha in pr.commit_ids[:JIRA_COMMIT_CAP]:
        if sha in repo.commits:
            keys.update(dict.fromkeys(jira_keys(repo.commits[sha].message)))
    return JSONResponse([render.jira_issue(c.world, k) for k in keys])


def issue_commits(c: Call) -> Response:
    key = c.params["issue"]
    max_changes = c.integer("maxChanges", 10, 0)
    index = _jira_index(c.state, c.world)
    found = [
        (c.world.repositories[rid], sha)
        for rid, sha in index.get(key, [])
        if rid in c.world.repositories and c.visible(c.world.repositories[rid])
    ]
    return c.page(
        found,
        lambda rs: render.changeset(c.world, rs[0], rs[0].commits[rs[1]], c.base, max_changes),
        "changesets",
    )
