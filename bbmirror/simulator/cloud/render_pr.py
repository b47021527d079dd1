"""Cloud JSON for code and review: commits, refs, statuses, pull requests, comments, activity."""

from __future__ import annotations

from urllib.parse import quote

from bbmirror.simulator.cloud.render import (
    HTML_BASE,
    MERGE_STRATEGIES,
    SHORT,
    SYNC_STRATEGIES,
    Doc,
    _href,
    _repo_api,
    _repo_html,
    rendered,
    repository,
    user,
    user_by_uuid,
)
from bbmirror.simulator.cloud.render_issues import _comment_base
from bbmirror.simulator.cloud.world import (
    Activity,
    Comment,
    Commit,
    CommitStatus,
    Participant,
    PullRequest,
    Repository,
    Tag,
    World,
)


def commit_ref(
    repo: Repository, full_hash: str, base: str, html: str = HTML_BASE, short: bool = False
) -> Doc:
    """A condensed commit ``{hash, type, links}``; ``short`` shows the 12-char form (§7.1)."""
    return {
        "hash": full_hash[:SHORT] if short else full_hash,
        "type": "commit",
        "links": {
            "self": _href(f"{_repo_api(base, repo)}/commit/{full_hash}"),
            "html": _href(f"{_repo_html(html, repo)}/commits/{full_hash}"),
        },
    }


def author(world: World, raw: str, uuid: str | None, base: str, html: str = HTML_BASE) -> Doc:
    """``{raw, type: "author", user?}``; ``user`` only when the email maps to an account."""
    doc: Doc = {"raw": raw, "type": "author"}
    found = world.user(uuid)
    if found is not None:
        doc["user"] = user(world, found, base, html=html)
    return doc


def commit(world: World, repo: Repository, c: Commit, base: str, html: str = HTML_BASE) -> Doc:
    """A full commit (§3.15)."""
    api = f"{_repo_api(base, repo)}/commit/{c.hash}"
    return {
        "type": "commit",
        "hash": c.hash,
        "date": c.date,
        "author": author(world, c.author_raw, c.author_uuid, base, html),
        "message": c.message,
        "summary": rendered(c.message),
        "rendered": {"message": rendered(c.message)},
        "parents": [commit_ref(repo, p, base, html) for p in c.parents],
        "repository": repository(world, repo, base, condensed=True, html=html),
        "participants": [],
        "links": {
            "self": _href(api),
            "html": _href(f"{_repo_html(html, repo)}/commits/{c.hash}"),
            "comments": _href(f"{api}/comments"),
            "patch": _href(f"{_repo_api(base, repo)}/patch/{c.hash}"),
            "diff": _href(f"{_repo_api(base, repo)}/diff/{c.hash}"),
            "approve": _href(f"{api}/approve"),
            "statuses": _href(f"{api}/statuses"),
        },
    }


# A ref's target is the commit without these (a real 2026 branch capture, tests/fixtures/real).
TARGET_OMITS = frozenset({"summary", "rendered", "participants"})


def _target(world: World, repo: Repository, hash_: str, base: str, html: str) -> Doc:
    found = repo.commits.get(hash_)
    if found is None:
        return commit_ref(repo, hash_, base, html)
    doc = commit(world, repo, found, base, html)
    return {k: v for k, v in doc.items() if k not in TARGET_OMITS}


def branch(world: World, repo: Repository, name: str, base: str, html: str = HTML_BASE) -> Doc:
    """A branch ref with its target commit (§3.18)."""
    api = _repo_api(base, repo)
    return {
        "name": name,
        "links": {
            "commits": _href(f"{api}/commits/{quote(name)}"),
            "self": _href(f"{api}/refs/branches/{quote(name)}"),
            "html": _href(f"{_repo_html(html, repo)}/branch/{quote(name)}"),
            "pullrequest_create": _href(
                f"{_repo_html(html, repo)}/pull-requests/new?source={quote(name)}&t=1"
            ),
        },
        "default_merge_strategy": "merge_commit",
        "merge_strategies": list(MERGE_STRATEGIES),
        "sync_strategies": list(SYNC_STRATEGIES),
        "type": "branch",
        "target": _target(world, repo, repo.branches[name], base, html),
    }


def tag(world: World, repo: Repository, t: Tag, base: str, html: str = HTML_BASE) -> Doc:
    """A tag ref: target commit plus ``date``, ``message`` and ``tagger`` when annotated."""
    api = _repo_api(base, repo)
    return {
        "name": t.name,
        "links": {
            "commits": _href(f"{api}/commits/{quote(t.name)}"),
            "self": _href(f"{api}/refs/tags/{quote(t.name)}"),
            "html": _href(f"{_repo_html(html, repo)}/commits/tag/{quote(t.name)}"),
        },
        "type": "tag",
        "message": t.message,
        "date": t.date,
        "tagger": author(world, t.tagger_raw, None, base, html) if t.tagger_raw else None,
        "target": _target(world, repo, t.target, base, html),
    }


def commit_status(
    world: World, repo: Repository, hash_: str, s: CommitStatus, base: str, html: str = HTML_BASE
) -> Doc:
    """A commit status (§3.17); ``type`` is ``build``, the only status type.

    No ``uuid``: real payloads (2021, 2024 captures) and the current API description carry
    none; a status is its commit plus its ``key``. Nor ``commit``/``repository``: the schema
    (§3.17) and real captures name the commit only in ``links.commit``.
    """
    api = f"{_repo_api(base, repo)}/commit/{hash_}"
    return {
        "type": "build",
        "key": s.key,
        "state": s.state,
        "name": s.name,
        "description": s.description,
        "url": s.url,
        "refname": s.refname,
        "created_on": s.created_on,
        "updated_on": s.updated_on,
        "links": {
            "self": _href(f"{api}/statuses/build/{quote(s.key, safe='')}"),
            "commit": _href(api),
        },
    }


def pr_links(repo: Repository, pr_id: int, base: str, html: str) -> tuple[str, str]:
    return (
        f"{_repo_api(base, repo)}/pullrequests/{pr_id}",
        f"{_repo_html(html, repo)}/pull-requests/{pr_id}",
    )


def pullrequest_ref(
    world: World, repo: Repository, pr: PullRequest, base: str, html: str = HTML_BASE
) -> Doc:
    """The condensed PR embedded in comments and activity ``{type, id, title, links}``."""
    api, web = pr_links(repo, pr.id, base, html)
    return {
        "type": "pullrequest",
        "id": pr.id,
        "title": pr.title,
        "links": {"self": _href(api), "html": _href(web)},
    }


def _endpoint(
    world: World, repo: Repository, branch_name: str, hash_: str | None, base: str, html: str
) -> Doc:
    return {
        "branch": {
            "name": branch_name,
            "merge_strategies": list(MERGE_STRATEGIES),
            "default_merge_strategy": "merge_commit",
        },
        "commit": commit_ref(repo, hash_, base, html, short=True) if hash_ else None,
        "repository": repository(world, repo, base, condensed=True, html=html),
    }


def participant(world: World, p: Participant, base: str, html: str = HTML_BASE) -> Doc:
    """A PR ``participant`` (§3.11)."""
    return {
        "type": "participant",
        "user": user_by_uuid(world, p.user_uuid, base, html),
        "role": p.role,
        "approved": p.approved,
        "state": p.state,
        "participated_on": p.participated_on,
    }


def pullrequest(
    world: World,
    repo: Repository,
    pr: PullRequest,
    base: str,
    with_participants: bool = False,
    html: str = HTML_BASE,
) -> Doc:
    """A pull request (§3.11); ``reviewers``/``participants`` only when asked for."""
    api, web = pr_links(repo, pr.id, base, html)
    doc: Doc = {
        "type": "pullrequest",
        "id": pr.id,
        "title": pr.title,
        "description": pr.description,
        "summary": rendered(pr.description),
        "rendered": {
            "title": rendered(pr.title),
            "description": rendered(pr.description),
            "reason": rendered(pr.reason),
        },
        "state": pr.state,
        "author": user_by_uuid(world, pr.author_uuid, base, html),
        "closed_by": user_by_uuid(world, pr.closed_by_uuid, base, html),
        "reason": pr.reason,
        "source": _endpoint(world, repo, pr.source_branch, pr.source_commit, base, html),
        "destination": _endpoint(
            world, repo, pr.destination_branch, pr.destination_commit, base, html
        ),
        "merge_commit": (
            commit_ref(repo, pr.merge_commit, base, html, short=True) if pr.merge_commit else None
        ),
        "comment_count": pr.comment_count,
        "task_count": pr.task_count,
        "close_source_branch": pr.close_source_branch,
        "draft": pr.draft,
        "created_on": pr.created_on,
        "updated_on": pr.updated_on,
        "links": {
            "self": _href(api),
            "html": _href(web),
            "commits": _href(f"{api}/commits"),
            "approve": _href(f"{api}/approve"),
            "request-changes": _href(f"{api}/request-changes"),
            "diff": _href(f"{api}/diff"),
            "diffstat": _href(f"{api}/diffstat"),
            "comments": _href(f"{api}/comments"),
            "activity": _href(f"{api}/activity"),
            "merge": _href(f"{api}/merge"),
            "decline": _href(f"{api}/decline"),
            "statuses": _href(f"{api}/statuses"),
        },
    }
    if with_participants:
        doc["reviewers"] = [user_by_uuid(world, uid, base, html) for uid in pr.reviewer_uuids]
        doc["participants"] = [participant(world, p, base, html) for p in pr.participants]
    return doc


def pr_comment(
    world: World, repo: Repository, pr: PullRequest, c: Comment, base: str, html: str = HTML_BASE
) -> Doc:
    """A ``pullrequest_comment``, soft-deleted ones included (§3.12)."""
    api, web = pr_links(repo, pr.id, base, html)
    doc = {"type": "pullrequest_comment", **_comment_base(world, c, base, html)}
    doc["pullrequest"] = pullrequest_ref(world, repo, pr, base, html)
    doc["links"] = comment_links(api, web, c.id)
    if c.inline is not None:
        doc["inline"] = {
            "from": c.inline.get("from"),
            "to": c.inline.get("to"),
            "path": c.inline.get("path", ""),
            "outdated": bool(c.inline.get("outdated", False)),
            "context_lines": c.inline.get("context_lines", ""),
        }
        doc["links"]["code"] = _href(f"{api}/diff/{quote(doc['inline']['path'])}")
    if c.parent_id is not None:
        doc["parent"] = {"id": c.parent_id, "links": comment_links(api, web, c.parent_id)}
    return doc


def comment_links(api: str, web: str, comment_id: int) -> dict:
    """A PR comment's links, wherever it is named (itself, a reply's parent, a task's comment);
    ``api`` and ``web`` are the PR's own URLs (``pr_links``)."""
    return {
        "self": _href(f"{api}/comments/{comment_id}"),
        "html": _href(f"{web}/_/diff#comment-{comment_id}"),
    }


def find_comment(pr: PullRequest, comment_id: int | None) -> Comment | None:
    """The PR comment with this id, or None (hard-deleted or never existed)."""
    if comment_id is None:
        return None
    return next((c for c in pr.comments if c.id == comment_id), None)


def activity_entry(
    world: World,
    repo: Repository,
    pr: PullRequest,
    a: Activity,
    base: str,
    html: str = HTML_BASE,
) -> Doc | None:
    """One activity value ``{<kind>: {...}, "pull_request": {...}}`` (§3.13).

    Returns None for a comment entry whose comment no longer exists (hard-deleted): Bitbucket
    drops those from the feed.
    """
    ref = pullrequest_ref(world, repo, pr, base, html)
    who = user_by_uuid(world, a.user_uuid, base, html)
    if a.kind == "comment":
        found = find_comment(pr, a.comment_id)
        if found is None:
            return None
        return {"comment": pr_comment(world, repo, pr, found, base, html), "pull_request": ref}
    if a.kind == "update":
        data = a.data
        source = data.get("source_commit", pr.source_commit)
        destination = data.get("destination_commit", pr.destination_commit)
        payload = {
            "state": data.get("state", pr.state),
            "title": data.get("title", pr.title),
            "description": data.get("description", pr.description),
            "reason": data.get("reason", ""),
            "date": a.date,
            "author": who,
            "source": _endpoint(
                world, repo, data.get("source_branch", pr.source_branch), source, base, html
            ),
            "destination": _endpoint(
                world,
                repo,
                data.get("destination_branch", pr.destination_branch),
                destination,
                base,
                html,
            ),
        }
        return {"update": payload, "pull_request": ref}
    # approval | changes_requested: {date, user, pullrequest}
    return {a.kind: {"date": a.date, "user": who, "pullrequest": ref}, "pull_request": ref}
