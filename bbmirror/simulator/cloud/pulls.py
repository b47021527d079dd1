"""Cloud API handlers for code review: pull requests, activity, commits, refs and statuses."""

from __future__ import annotations

import hashlib
import json

from starlette.responses import Response

from bbmirror.simulator.cloud import render_pr
from bbmirror.simulator.cloud.call import (
    MAX_ACTIVITY_PAGELEN,
    PR_STATE_NAMES,
    ApiError,
    Call,
    Doc,
    _decode_cursor,
    _epoch,
    commit_by_prefix,
    commit_order,
    resolve_ref,
)
from bbmirror.simulator.cloud.fields import wants_field
from bbmirror.simulator.cloud.world import (
    Activity,
    PullRequest,
    Repository,
)


def _pr_index(pr: PullRequest) -> Doc:
    return {
        "id": pr.id,
        "title": pr.title,
        "state": pr.state,
        "created_on": pr.created_on,
        "updated_on": pr.updated_on,
    }


def pullrequests(c: Call) -> Response:
    repo = c.repo()
    states = [s.upper() for s in c.args("state")] or ["OPEN"]
    bad = [s for s in states if s not in PR_STATE_NAMES]
    if bad:
        raise ApiError(400, f"Invalid state: {bad[0]}")
    items = sorted(
        (p for p in repo.pullrequests.values() if p.state in states), key=lambda p: -p.id
    )
    fields = c.query.get("fields")
    keep_reviewers = wants_field(fields, "values.reviewers")
    keep_participants = wants_field(fields, "values.participants")
    wanted = keep_reviewers or keep_participants

    def make(pr: PullRequest) -> Doc:
        return render_pr.pullrequest(
            c.world, repo, pr, c.base, with_participants=wanted, html=c.html
        )

    def full(pr: PullRequest) -> Doc:
        return render_pr.pullrequest(c.world, repo, pr, c.base, with_participants=True, html=c.html)

    def trim(doc: Doc) -> Doc:
        if not keep_reviewers:
            doc.pop("reviewers", None)
        if not keep_participants:
            doc.pop("participants", None)
        return doc

    return c.page(items, make, full=full, post=trim, index=_pr_index)


def get_pullrequest(c: Call) -> Response:
    repo, pr = c.pr()
    return c.json(
        render_pr.pullrequest(c.world, repo, pr, c.base, with_participants=True, html=c.html)
    )


def pr_comments(c: Call) -> Response:
    repo, pr = c.pr()
    return c.page(pr.comments, lambda x: render_pr.pr_comment(c.world, repo, pr, x, c.base, c.html))


def pr_comment(c: Call) -> Response:
    repo, pr = c.pr()
    found = render_pr.find_comment(pr, c.params["cid"])
    if found is None:
        raise ApiError(404, "Comment not found")
    return c.json(render_pr.pr_comment(c.world, repo, pr, found, c.base, c.html))


def _activity_key(pr: PullRequest, a: Activity) -> str:
    return f"{pr.id}|{a.kind}|{a.date}|{a.user_uuid}|{a.comment_id}"


def _live(a: Activity, comment_ids: set[int]) -> bool:
    """Whether an activity entry is shown: comment entries need their comment to exist."""
    return a.kind != "comment" or a.comment_id in comment_ids


def pr_activity(c: Call) -> Response:
    repo, pr = c.pr()
    ids = {x.id for x in pr.comments}
    entries = [a for a in reversed(pr.activity) if _live(a, ids)]
    return c.cursor(
        entries,
        lambda a: _activity_key(pr, a),
        lambda a: render_pr.activity_entry(c.world, repo, pr, a, c.base, c.html),
        max_pagelen=MAX_ACTIVITY_PAGELEN,
        strict=True,
    )


def repo_activity(c: Call) -> Response:
    repo = c.repo()
    merged = []
    for pr in repo.pullrequests.values():
        ids = {x.id for x in pr.comments}
        merged += [
            (_epoch(a.date), pr.id, n, pr, a) for n, a in enumerate(pr.activity) if _live(a, ids)
        ]
    if c.world.settings.feed_by_pr:  # an order a walker cannot stop early in (world.py)
        merged.sort(key=lambda e: (e[1], e[0], e[2]), reverse=True)
    else:
        merged.sort(key=lambda e: e[:3], reverse=True)
    entries = [(pr, a) for *_, pr, a in merged]
    return c.cursor(
        entries,
        lambda e: _activity_key(e[0], e[1]),
        lambda e: render_pr.activity_entry(c.world, repo, e[0], e[1], c.base, c.html),
        max_pagelen=MAX_ACTIVITY_PAGELEN,
        strict=True,
    )


def pr_commits(c: Call) -> Response:
    repo, pr = c.pr()
    hashes = [h for h in pr.commit_hashes if h in repo.commits]
    return c.cursor(
        hashes,
        lambda h: h,
        lambda h: render_pr.commit(c.world, repo, repo.commits[h], c.base, c.html),
    )


def _statuses(c: Call, repo: Repository, full_hash: str) -> Response:
    items = repo.statuses.get(full_hash, [])
    return c.page(
        items,
        lambda s: render_pr.commit_status(c.world, repo, full_hash, s, c.base, c.html),
        default_sort="created_on",
    )


def pr_statuses(c: Call) -> Response:
    repo, pr = c.pr()
    return _statuses(c, repo, pr.source_commit)


def commits(c: Call) -> Response:
    repo = c.repo()
    include, exclude = c.args("include"), c.args("exclude")
    spec = ""
    token = c.arg("ctx")
    if token:
        spec = _decode_cursor(token)[2]
        if spec:
            stored = c.state.commit_specs.get(spec)
            if stored is None:
                raise ApiError(400, "Invalid cursor")
            include, exclude = include + stored[0], exclude + stored[1]
    elif c.form:
        form_refs = (
            [v for k, v in c.form if k == "include" and v],
            [v for k, v in c.form if k == "exclude" and v],
        )
        spec = hashlib.sha1(json.dumps(form_refs).encode()).hexdigest()[:16]
        c.state.commit_specs[spec] = form_refs
    revision = c.params.get("revision")
    if revision:
        include = [revision, *include]
    heads = [resolve_ref(repo, r) for r in include]
    if not include:
        heads = [*repo.branches.values(), *(t.target for t in repo.tags.values())]
    hidden = [resolve_ref(repo, r) for r in exclude]
    order = commit_order(repo, heads, hidden)
    return c.cursor(
        order,
        lambda h: h,
        lambda h: render_pr.commit(c.world, repo, repo.commits[h], c.base, c.html),
        spec=spec,
    )


def _commit_hash(c: Call, repo: Repository) -> str:
    return commit_by_prefix(repo, c.params["hash"], 7)


def get_commit(c: Call) -> Response:
    repo = c.repo()
    found = repo.commits[_commit_hash(c, repo)]
    return c.json(render_pr.commit(c.world, repo, found, c.base, c.html))


def commit_statuses(c: Call) -> Response:
    repo = c.repo()
    return _statuses(c, repo, _commit_hash(c, repo))


def branches(c: Call) -> Response:
    repo = c.repo()
    names = sorted(repo.branches)
    return c.page(names, lambda n: render_pr.branch(c.world, repo, n, c.base, c.html))


def refs(c: Call) -> Response:
    """``GET …/refs``: branches and tags in one list (§3.18), by name, branches first on a tie."""
    repo = c.repo()
    items = [("branch", n) for n in repo.branches] + [("tag", n) for n in repo.tags]
    items.sort(key=lambda item: (item[1], item[0]))

    def make(item: tuple[str, str]) -> dict:
        kind, name = item
        if kind == "branch":
            return render_pr.branch(c.world, repo, name, c.base, c.html)
        return render_pr.tag(c.world, repo, repo.tags[name], c.base, c.html)

    return c.page(items, make)


def get_branch(c: Call) -> Response:
    repo = c.repo()
    name = c.params["name"]
    if name not in repo.branches:
        raise ApiError(404, f"Branch not found: {name}")
    return c.json(render_pr.branch(c.world, repo, name, c.base, c.html))


def tags(c: Call) -> Response:
    repo = c.repo()
    items = [repo.tags[n] for n in sorted(repo.tags)]
    return c.page(items, lambda t: render_pr.tag(c.world, repo, t, c.base, c.html))


def get_tag(c: Call) -> Response:
    repo = c.repo()
    found = repo.tags.get(c.params["name"])
    if found is None:
        raise ApiError(404, f"Tag not found: {c.params['name']}")
    return c.json(render_pr.tag(c.world, repo, found, c.base, c.html))
