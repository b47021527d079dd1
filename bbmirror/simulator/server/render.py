"""World objects → Bitbucket Server REST 1.0 JSON, field for field as bitbucket-server.md §2.0.

``base`` is the server's root URL (scheme, host, port and any context path, no ``/rest``):
``links.self`` is always an array of ``{href}`` built from it (§5 "Links"), clone links use
``ssh://git@HOST:7999/key/slug.git`` and ``BASE/scm/key/slug.git``. Timestamps are the world's
epoch-millisecond ints, or with ``settings.iso_dates`` the ISO-8601 text newer releases send
(``2018-07-05T05:01:10+0000``, whole seconds). Choices where the reference is silent are listed
in docs/simulator.md.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from bbmirror.simulator.common.pools import PATHS
from bbmirror.simulator.server.world import (
    DcActivity,
    DcBuild,
    DcComment,
    DcCommit,
    DcParticipant,
    DcProject,
    DcPullRequest,
    DcRepository,
    DcTag,
    DcUser,
    DcWorld,
    jira_keys,
)

Doc = dict[str, Any]
RESCOPE_COMMITS = 5  # RESCOPED added/removed lists are truncated; ``total`` has the count


def _self(href: str) -> Doc:
    return {"self": [{"href": href}]}


def user(u: DcUser, base: str) -> Doc:
    return {
        "name": u.name,
        "emailAddress": u.email,
        "id": u.id,
        "displayName": u.display_name,
        "active": u.active,
        "slug": u.slug,
        "type": "NORMAL",
        "links": _self(f"{base}/users/{quote(u.slug)}"),
    }


def user_by_id(world: DcWorld, uid: int, base: str) -> Doc:
    return user(world.users[uid], base)


def project(world: DcWorld, p: DcProject, base: str) -> Doc:
    doc: Doc = {"key": p.key, "id": p.id, "name": p.name}
    if p.type == "PERSONAL" and p.owner_id is not None:
        owner = world.users[p.owner_id]
        doc.update(type="PERSONAL", owner=user(owner, base))
        doc["links"] = _self(f"{base}/users/{quote(owner.slug)}")
        return doc
    doc.update(description=p.description, public=p.public, type="NORMAL")
    doc["links"] = _self(f"{base}/projects/{quote(p.key)}")
    return doc


def repo_path(world: DcWorld, r: DcRepository) -> str:
    """``/projects/KEY/repos/slug`` (the web path; the REST path has the same tail)."""
    return f"/projects/{quote(world.projects[r.project_id].key)}/repos/{quote(r.slug)}"


def repository(world: DcWorld, r: DcRepository, base: str) -> Doc:
    p = world.projects[r.project_id]
    host = urlsplit(base).hostname or "localhost"
    key = p.key.lower()
    return {
        "slug": r.slug,
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "hierarchyId": r.hierarchy_id,
        "scmId": "git",
        "state": r.state,
        "statusMessage": "Available" if r.state == "AVAILABLE" else r.state.title(),
        "forkable": r.forkable,
        "project": project(world, p, base),
        "public": r.public,
        "links": {
            "clone": [
                {"href": f"ssh://git@{host}:7999/{key}/{r.slug}.git", "name": "ssh"},
                {"href": f"{base}/scm/{key}/{r.slug}.git", "name": "http"},
            ],
            "self": [{"href": f"{base}{repo_path(world, r)}/browse"}],
        },
    }


def branch(r: DcRepository, name: str) -> Doc:
    head = r.branches[name]
    return {
        "id": f"refs/heads/{name}",
        "displayId": name,
        "type": "BRANCH",
        "latestCommit": head,
        "latestChangeset": head,
        "isDefault": name == r.default_branch,
    }


def minimal_ref(name: str) -> Doc:
    return {"id": f"refs/heads/{name}", "displayId": name, "type": "BRANCH"}


def tag(t: DcTag) -> Doc:
    """A tag with ``id`` = ``refs/tags/…`` (the seed's swapped example is an artifact, §5)."""
    return {
        "id": f"refs/tags/{t.name}",
        "displayId": t.name,
        "type": "TAG",
        "latestCommit": t.target,
        "latestChangeset": t.target,
        "hash": t.hash,
    }


def when(world: DcWorld | None, ms: int | None) -> int | str | None:
    """A time as this server sends it: epoch ms, or ISO-8601 text when ``iso_dates`` is on."""
    if ms is None or world is None or not world.settings.iso_dates:
        return ms
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _identity(world: DcWorld, name: str, email: str, uid: int | None, base: str) -> Doc:
    if uid is not None and uid in world.users:
        return user(world.users[uid], base)
    return {"name": name, "emailAddress": email}


def commit(world: DcWorld, c: DcCommit, base: str) -> Doc:
    doc: Doc = {
        "id": c.id,
        "displayId": c.id[:11],
        "author": _identity(world, c.author_name, c.author_email, c.author_id, base),
        "authorTimestamp": when(world, c.author_ts),
        "committer": _identity(world, c.committer_name, c.committer_email, c.author_id, base),
        "committerTimestamp": when(world, c.committer_ts),
        "message": c.message,
        "parents": [{"id": p, "displayId": p[:11]} for p in c.parents],
    }
    keys = jira_keys(c.message)
    if keys:
        doc["properties"] = {"jira-key": keys}
    return doc


def participant(world: DcWorld, p: DcParticipant, base: str) -> Doc:
    doc: Doc = {
        "user": user_by_id(world, p.user_id, base),
        "role": p.role,
        "approved": p.approved,
        "status": p.status,
    }
    if p.last_reviewed_commit:
        doc["lastReviewedCommit"] = p.last_reviewed_commit
    return doc


def pr_ref(world: DcWorld, r: DcRepository, name: str, head: str, base: str) -> Doc:
    return {
        "id": f"refs/heads/{name}",
        "displayId": name,
        "latestCommit": head,
        "type": "BRANCH",
        "repository": repository(world, r, base),
    }


def pr_properties(pr: DcPullRequest) -> Doc:
    """``commentCount`` counts every visible comment and reply; tasks are BLOCKER comments.

    As real payloads: ``commentCount`` only when there are comments, ``mergeResult`` on open
    PRs, and a merged PR's ``mergeCommit`` (Data Center 7.x and later).
    """
    comments = list(pr.all_comments())
    blockers = [c for c in comments if c.severity == "BLOCKER"]
    doc: Doc = {}
    if pr.state == "OPEN":
        doc["mergeResult"] = {"outcome": "CLEAN", "current": True}
    if comments:
        doc["commentCount"] = len(comments)
    doc.update(
        openTaskCount=sum(1 for c in blockers if c.state == "OPEN"),
        resolvedTaskCount=sum(1 for c in blockers if c.state == "RESOLVED"),
    )
    if pr.merge_commit and pr.state == "MERGED":
        doc["mergeCommit"] = {"displayId": pr.merge_commit[:11], "id": pr.merge_commit}
    return doc


def pull_request(
    world: DcWorld, r: DcRepository, pr: DcPullRequest, base: str, properties: bool = True
) -> Doc:
    source = world.repositories.get(pr.from_repo_id, r)
    doc: Doc = {
        "id": pr.id,
        "version": pr.version,
        "title": pr.title,
        "description": pr.description,
        "state": pr.state,
        "open": pr.state == "OPEN",
        "closed": pr.state != "OPEN",
        "draft": pr.draft,
        "createdDate": when(world, pr.created),
        "updatedDate": when(world, pr.updated),
    }
    if pr.closed is not None and pr.state != "OPEN":
        doc["closedDate"] = when(world, pr.closed)
    doc.update(
        fromRef=pr_ref(world, source, pr.from_branch, pr.from_commit, base),
        toRef=pr_ref(world, r, pr.to_branch, pr.to_commit, base),
        locked=False,
        author=participant(world, DcParticipant(pr.author_id, "AUTHOR"), base),
        reviewers=[participant(world, p, base) for p in pr.reviewers],
        participants=[participant(world, p, base) for p in pr.participants],
    )
    if properties:
        doc["properties"] = pr_properties(pr)
    doc["links"] = _self(f"{base}{repo_path(world, r)}/pull-requests/{pr.id}")
    return doc


def comment(world: DcWorld, c: DcComment, base: str, repo_id: int) -> Doc:
    """A comment with its visible replies nested in ``comments`` (deleted ones vanish)."""
    replies = [r for r in c.replies if not r.deleted]
    doc: Doc = {
        "properties": {"repositoryId": repo_id},
        "id": c.id,
        "version": c.version,
        "text": c.text,
        "author": user_by_id(world, c.author_id, base),
        "createdDate": when(world, c.created),
        "updatedDate": when(world, c.updated),
        "comments": [comment(world, r, base, repo_id) for r in replies],
        "tasks": [],
        "severity": c.severity,
        "state": c.state,
        "permittedOperations": {
            "editable": True,
            "transitionable": True,
            "deletable": not replies,  # a comment with replies cannot be deleted (409)
        },
    }
    if c.anchor is not None:
        doc["anchor"] = dict(c.anchor)
    if c.state == "RESOLVED" and c.resolved is not None:  # a resolved task (8.x, 9.x)
        doc["resolvedDate"] = when(world, c.resolved)
        if c.resolver_id is not None:
            doc["resolver"] = user_by_id(world, c.resolver_id, base)
    return doc


def _commits(world: DcWorld, r: DcRepository, shas: list[str], base: str) -> Doc:
    shown = [commit(world, r.commits[s], base) for s in shas[:RESCOPE_COMMITS] if s in r.commits]
    return {"commits": shown, "total": len(shas)}


def activity(world: DcWorld, r: DcRepository, pr: DcPullRequest, a: DcActivity, base: str) -> Doc:
    """One activity; ``COMMENTED`` embeds the current thread (§2.7), others their extras."""
    doc: Doc = {
        "id": a.id,
        "createdDate": when(world, a.created),
        "user": user_by_id(world, a.user_id, base),
        "action": a.action,
    }
    data = a.data
    if a.action == "COMMENTED" and a.comment_id is not None:
        root = pr.comment(a.comment_id)
        if root is not None:
            doc["commentAction"] = data.get("commentAction", "ADDED")
            doc["comment"] = comment(world, root, base, r.id)
            if root.anchor is not None:
                doc["commentAnchor"] = dict(root.anchor)
    elif a.action == "RESCOPED":
        for name in ("fromHash", "previousFromHash", "previousToHash", "toHash"):
            doc[name] = data.get(name)
        doc["added"] = _commits(world, r, data.get("added", []), base)
        doc["removed"] = _commits(world, r, data.get("removed", []), base)
    elif a.action == "UPDATED":
        doc["addedReviewers"] = [user_by_id(world, u, base) for u in data.get("addedReviewers", [])]
        doc["removedReviewers"] = [
            user_by_id(world, u, base) for u in data.get("removedReviewers", [])
        ]
        for name in ("previousTitle", "previousDescription"):
            if name in data:
                doc[name] = data[name]
    elif a.action == "MERGED" and data.get("commit") in r.commits:
        doc["commit"] = commit(world, r.commits[data["commit"]], base)
    return doc


def build(b: DcBuild, world: DcWorld | None = None) -> Doc:
    """A build status as ``/rest/build-status/1.0/commits/{id}`` lists it."""
    return {
        "state": b.state,
        "key": b.key,
        "name": b.name,
        "url": b.url,
        "description": b.description,
        "dateAdded": when(world, b.date_added),
    }


def build_detail(world: DcWorld, r: DcRepository, sha: str, b: DcBuild, base: str) -> Doc:
    """The core API's single build status (``{P}/commits/{id}/builds?key=``, §2.11)."""
    doc = build(b, world)
    doc.update(
        createdDate=when(world, b.date_added),
        updatedDate=when(world, b.date_added),
        buildNumber=b.build_number,
        commit=commit(world, r.commits[sha], base),
        duration=b.duration,
        ref=b.ref,
    )
    return doc


def changes(c: DcCommit, max_changes: int) -> Doc:
    """A nested page of file changes, derived from the commit id (the world has no files)."""
    digest = hashlib.sha1(c.id.encode()).digest()
    count = 1 + digest[0] % 3
    values = []
    for i in range(min(count, max_changes)):
        path = PATHS[digest[i + 1] % len(PATHS)]
        parent, _, name = path.rpartition("/")
        values.append(
            {
                "contentId": hashlib.sha1(f"{c.id}:{path}".encode()).hexdigest(),
                "path": {
                    "components": path.split("/"),
                    "parent": parent,
                    "name": name,
                    "extension": name.rpartition(".")[2] if "." in name else "",
                    "toString": path,
                },
                "executable": False,
                "percentUnchanged": -1,
                "type": "MODIFY",
                "nodeType": "FILE",
                "srcExecutable": False,
                "links": {"self": [{"href": None}]},
            }
        )
    page: Doc = {"size": len(values), "limit": max_changes, "isLastPage": count <= max_changes}
    page.update(values=values, start=0)
    if count > max_changes:
        page["nextPageStart"] = max_changes
    return page


def changeset(world: DcWorld, r: DcRepository, c: DcCommit, base: str, max_changes: int) -> Doc:
    """An element of the Jira ``/issues/{key}/commits`` page."""
    parent = c.parents[0] if c.parents else None
    return {
        "fromCommit": {"id": parent, "displayId": parent[:11]} if parent else None,
        "toCommit": commit(world, c, base),
        "changes": changes(c, max_changes),
        "links": _self(f"{base}{repo_path(world, r)}/commits/{c.id}"),
        "repository": repository(world, r, base),
    }


def jira_issue(world: DcWorld, key: str) -> Doc:
    return {"key": key, "url": f"{world.jira_url}/browse/{key}"}


def error(message: str, context: str | None = None, exception: str | None = None) -> Doc:
    """Server's error body (§1.4)."""
    return {"errors": [{"context": context, "message": message, "exceptionName": exception}]}
