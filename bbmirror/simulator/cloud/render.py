"""World objects → Bitbucket Cloud 2.0 JSON, in the documented shapes (reference §3, §4, §7).

Pure functions: no HTTP, no state. ``base`` is the simulator's own API base
(``http://host/2.0``), ``html`` the base of HTML links (``https://bitbucket.org`` by default),
so every ``links.self`` points back at the simulator that served it.

Choices where the reference is silent (see docs/simulator.md, "HTTP API, auth and faults"):

- A repository's ``owner`` is its workspace rendered as a condensed ``team``; the repository
  also carries a condensed ``workspace`` (as today's API does).
- Commit statuses have ``type: "build"`` (the only status type) and embed a condensed commit.
- ``content.html`` is a minimal rendering: escaped text, one ``<p>`` per paragraph.
- Soft-deleted comments keep their id, dates and author and render ``content.raw == ""``.
"""

from __future__ import annotations

import html as htmllib
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from bbmirror.simulator.cloud.world import (
    Activity,
    Attachment,
    Comment,
    Commit,
    CommitStatus,
    Issue,
    IssueChange,
    Membership,
    Named,
    Participant,
    Project,
    PullRequest,
    Repository,
    Tag,
    User,
    Workspace,
    World,
)

HTML_BASE = "https://bitbucket.org"
MERGE_STRATEGIES = ["merge_commit", "squash", "fast_forward"]
SYNC_STRATEGIES = ["merge_commit", "rebase"]  # as a real 2026 branch capture lists them
SHORT = 12  # PR endpoints and merge commits carry 12-char hashes (reference §3.11, §7.1)

Doc = dict[str, Any]


def _href(url: str) -> dict[str, str]:
    return {"href": url}


@lru_cache(maxsize=65536)
def _q(text: str) -> str:
    """Percent-encode one path segment (braces of uuids become %7B…%7D, §7.1)."""
    return quote(text, safe="")


def _repo_api(base: str, repo: Repository) -> str:
    return f"{base}/repositories/{repo.workspace}/{repo.slug}"


def _repo_html(html: str, repo: Repository) -> str:
    return f"{html}/{repo.workspace}/{repo.slug}"


def rendered(raw: str | None, markup: str = "markdown") -> Doc:
    """Rendered content ``{raw, markup, html, type}`` (reference §3.0)."""
    raw = raw or ""
    return {"raw": raw, "markup": markup, "html": _to_html(raw), "type": "rendered"}


@lru_cache(maxsize=16384)
def _to_html(raw: str) -> str:
    paragraphs = [p for p in raw.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{htmllib.escape(p.strip())}</p>" for p in paragraphs)


# --- accounts, workspaces, projects ------------------------------------------------------------


def user(
    world: World, u: User | None, base: str, condensed: bool = True, html: str = HTML_BASE
) -> Doc | None:
    """A user; condensed as embedded in other objects, full for ``/user`` (§3.1)."""
    if u is None:
        return None
    key = _q(u.uuid)
    doc: Doc = {
        "display_name": u.display_name,
        "links": {
            "self": _href(f"{base}/users/{key}"),
            "html": _href(f"{html}/{key}/"),
            "avatar": _href(f"{html}/account/{key}/avatar/"),
        },
        "type": "user",
        "uuid": u.uuid,
        "account_id": u.account_id,
        "nickname": u.nickname,
    }
    if not condensed:
        doc["created_on"] = u.created_on
        doc["account_status"] = "active"
        doc["is_staff"] = False
        doc["has_2fa_enabled"] = None
        doc["location"] = None
        doc["website"] = None
        doc["links"]["repositories"] = _href(f"{base}/repositories/{key}")
    return doc


def user_by_uuid(world: World, uuid: str | None, base: str, html: str = HTML_BASE) -> Doc | None:
    """The condensed user for a uuid, or None (unknown or absent)."""
    return user(world, world.user(uuid), base, html=html)


def workspace(
    world: World, ws: Workspace, base: str, condensed: bool = False, html: str = HTML_BASE
) -> Doc:
    """A workspace (§3.2); condensed as embedded in repositories and memberships."""
    api = f"{base}/workspaces/{ws.slug}"
    links: Doc = {
        "self": _href(api),
        "html": _href(f"{html}/{ws.slug}/"),
        "avatar": _href(f"{html}/workspaces/{ws.slug}/avatar/"),
    }
    if condensed:
        return {
            "type": "workspace",
            "uuid": ws.uuid,
            "name": ws.name,
            "slug": ws.slug,
            "links": links,
        }
    links.update(
        {
            "members": _href(f"{api}/members"),
            "owners": _href(f"{api}/members?q=permission%3D%22owner%22"),
            "projects": _href(f"{api}/projects"),
            "repositories": _href(f"{base}/repositories/{ws.slug}"),
            "snippets": _href(f"{base}/snippets/{ws.slug}"),
        }
    )
    return {
        "uuid": ws.uuid,
        "links": links,
        "created_on": ws.created_on,
        "updated_on": ws.updated_on,
        "type": "workspace",
        "slug": ws.slug,
        "is_private": ws.is_private,
        "name": ws.name,
    }


def team(world: World, ws: Workspace, base: str, html: str = HTML_BASE) -> Doc:
    """A workspace in the legacy ``owner`` slot of repositories and projects."""
    return {
        "display_name": ws.name,
        "links": {
            "self": _href(f"{base}/workspaces/{ws.slug}"),
            "html": _href(f"{html}/{ws.slug}/"),
            "avatar": _href(f"{html}/workspaces/{ws.slug}/avatar/"),
        },
        "type": "team",
        "uuid": ws.uuid,
        "username": ws.slug,
    }


def membership(world: World, ws: Workspace, m: Membership, base: str, html: str = HTML_BASE) -> Doc:
    """A ``workspace_membership`` (§3.2): real ones carry no ``permission``, ``added_on`` nor
    ``last_accessed`` (those appear only in the reference's examples; issue 12.7)."""
    return {
        "type": "workspace_membership",
        "user": user_by_uuid(world, m.user_uuid, base, html),
        "workspace": workspace(world, ws, base, condensed=True, html=html),
        "links": {"self": _href(f"{base}/workspaces/{ws.slug}/members/{_q(m.user_uuid)}")},
    }


def workspace_access(
    world: World, ws: Workspace, m: Membership, base: str, html: str = HTML_BASE
) -> Doc:
    """A ``workspace_access`` entry of ``/user/workspaces`` (CHANGE-3022)."""
    return {
        "type": "workspace_access",
        "administrator": m.permission == "owner",
        "permission": m.permission,
        "workspace": workspace(world, ws, base, condensed=True, html=html),
        "links": {"self": _href(f"{base}/workspaces/{ws.slug}")},
    }


def project(
    world: World,
    ws: Workspace,
    p: Project,
    base: str,
    condensed: bool = False,
    html: str = HTML_BASE,
) -> Doc:
    """A project (§3.3); condensed inside repositories."""
    links = {
        "self": _href(f"{base}/workspaces/{ws.slug}/projects/{_q(p.key)}"),
        "html": _href(f"{html}/{ws.slug}/workspace/projects/{_q(p.key)}"),
        "avatar": _href(f"{html}/{ws.slug}/workspace/projects/{_q(p.key)}/avatar/32"),
    }
    if condensed:
        return {"type": "project", "key": p.key, "uuid": p.uuid, "name": p.name, "links": links}
    return {
        "type": "project",
        "uuid": p.uuid,
        "key": p.key,
        "name": p.name,
        "description": p.description,
        "is_private": p.is_private,
        "owner": team(world, ws, base, html),
        "workspace": workspace(world, ws, base, condensed=True, html=html),
        "created_on": p.created_on,
        "updated_on": p.updated_on,
        "links": links,
    }


# --- repositories ------------------------------------------------------------------------------


def repository(
    world: World, repo: Repository, base: str, condensed: bool = False, html: str = HTML_BASE
) -> Doc:
    """A repository (§3.4): full from its own URL and lists, condensed when embedded."""
    api, web = _repo_api(base, repo), _repo_html(html, repo)
    links: Doc = {
        "self": _href(api),
        "html": _href(web),
        "avatar": _href(f"{web}/avatar/32/"),
    }
    if condensed:
        return {
            "links": links,
            "type": "repository",
            "name": repo.name,
            "full_name": repo.full_name,
            "uuid": repo.uuid,
        }
    links.update(
        {
            "pullrequests": _href(f"{api}/pullrequests"),
            "commits": _href(f"{api}/commits"),
            "forks": _href(f"{api}/forks"),
            "watchers": _href(f"{api}/watchers"),
            "branches": _href(f"{api}/refs/branches"),
            "tags": _href(f"{api}/refs/tags"),
            "downloads": _href(f"{api}/downloads"),
            "source": _href(f"{api}/src"),
            "hooks": _href(f"{api}/hooks"),
            "clone": [
                {"name": "https", "href": f"{web}.git"},
                {"name": "ssh", "href": f"git@bitbucket.org:{repo.full_name}.git"},
            ],
        }
    )
    if repo.has_issues:
        links["issues"] = _href(f"{api}/issues")
    ws = world.workspaces.get(repo.workspace)
    proj = ws.projects.get(repo.project_key) if ws and repo.project_key else None
    return {
        "type": "repository",
        "uuid": repo.uuid,
        "full_name": repo.full_name,
        "name": repo.name,
        "slug": repo.slug,
        "description": repo.description,
        "scm": "git",
        "website": None,
        "owner": team(world, ws, base, html) if ws else None,
        "workspace": workspace(world, ws, base, condensed=True, html=html) if ws else None,
        "project": project(world, ws, proj, base, condensed=True, html=html) if proj else None,
        "mainbranch": {"name": repo.mainbranch, "type": "branch"},
        "language": repo.language,
        "size": repo.size,
        "is_private": repo.is_private,
        "has_issues": repo.has_issues,
        "has_wiki": False,
        "fork_policy": repo.fork_policy,
        "parent": None,
        "created_on": repo.created_on,
        "updated_on": repo.updated_on,
        "links": links,
    }


# --- issues ------------------------------------------------------------------------------------

NAMED_PATHS = {"milestone": "milestones", "version": "versions", "component": "components"}


def named(world: World, repo: Repository, kind: str, n: Named, base: str) -> Doc:
    """A milestone, version or component ``{type, id, name, links.self}`` (§3.9)."""
    url = f"{_repo_api(base, repo)}/{NAMED_PATHS[kind]}/{n.id}"
    return {"type": kind, "id": n.id, "name": n.name, "links": {"self": _href(url)}}


def _issue_links(repo: Repository, issue_id: int, base: str, html: str) -> tuple[str, str]:
    return (
        f"{_repo_api(base, repo)}/issues/{issue_id}",
        f"{_repo_html(html, repo)}/issues/{issue_id}",
    )


def issue(
    world: World,
    repo: Repository,
    i: Issue,
    base: str,
    condensed: bool = False,
    html: str = HTML_BASE,
) -> Doc:
    """An issue (§4.1); condensed inside comments and changes."""
    api, web = _issue_links(repo, i.id, base, html)
    if condensed:
        return {
            "type": "issue",
            "id": i.id,
            "title": i.title,
            "repository": repository(world, repo, base, condensed=True, html=html),
            "links": {"self": _href(api), "html": _href(web)},
        }

    def pick(kind: str, table: dict[int, Named], key: int | None) -> Doc | None:
        found = table.get(key) if key is not None else None
        return named(world, repo, kind, found, base) if found else None

    return {
        "type": "issue",
        "id": i.id,
        "repository": repository(world, repo, base, condensed=True, html=html),
        "links": {
            "self": _href(api),
            "html": _href(web),
            "comments": _href(f"{api}/comments"),
            "attachments": _href(f"{api}/attachments"),
            "watch": _href(f"{api}/watch"),
            "vote": _href(f"{api}/vote"),
        },
        "title": i.title,
        "reporter": user_by_uuid(world, i.reporter_uuid, base, html),
        "assignee": user_by_uuid(world, i.assignee_uuid, base, html),
        "created_on": i.created_on,
        "updated_on": i.updated_on,
        "edited_on": i.edited_on,
        "state": i.state,
        "kind": i.kind,
        "priority": i.priority,
        "milestone": pick("milestone", repo.milestones, i.milestone_id),
        "version": pick("version", repo.versions, i.version_id),
        "component": pick("component", repo.components, i.component_id),
        "votes": i.votes,
        "content": rendered(i.content),
    }


def _comment_base(world: World, c: Comment, base: str, html: str) -> Doc:
    return {
        "id": c.id,
        "created_on": c.created_on,
        "updated_on": c.updated_on,
        "content": rendered("" if c.deleted else c.content),
        "user": user_by_uuid(world, c.user_uuid, base, html),
        "deleted": c.deleted,
    }


def issue_comment(
    world: World, repo: Repository, i: Issue, c: Comment, base: str, html: str = HTML_BASE
) -> Doc:
    """An ``issue_comment`` (§4.3)."""
    api, web = _issue_links(repo, i.id, base, html)
    doc = {"type": "issue_comment", **_comment_base(world, c, base, html)}
    doc["issue"] = issue(world, repo, i, base, condensed=True, html=html)
    doc["links"] = {
        "self": _href(f"{api}/comments/{c.id}"),
        "html": _href(f"{web}#comment-{c.id}"),
    }
    if c.parent_id is not None:
        doc["parent"] = {
            "id": c.parent_id,
            "links": {"self": _href(f"{api}/comments/{c.parent_id}")},
        }
    return doc


def issue_change(
    world: World, repo: Repository, i: Issue, ch: IssueChange, base: str, html: str = HTML_BASE
) -> Doc:
    """An immutable ``issue_change`` with string old/new values (§4.2)."""
    api, web = _issue_links(repo, i.id, base, html)
    return {
        "type": "issue_change",
        "id": ch.id,
        "changes": {name: dict(value) for name, value in ch.changes.items()},
        "links": {
            "self": _href(f"{api}/changes/{ch.id}"),
            "html": _href(f"{web}#comment-{ch.id}"),
            "issue": _href(api),
        },
        "issue": issue(world, repo, i, base, condensed=True, html=html),
        "created_on": ch.created_on,
        "user": user_by_uuid(world, ch.user_uuid, base, html),
        "message": rendered(ch.message),
    }


def attachment(world: World, repo: Repository, i: Issue, a: Attachment, base: str) -> Doc:
    """Attachment metadata: only ``{type, name, links.self}`` (§3.8)."""
    url = f"{_repo_api(base, repo)}/issues/{i.id}/attachments/{_q(a.name)}"
    return {"type": "issue_attachment", "name": a.name, "links": {"self": _href(url)}}


# --- commits and refs --------------------------------------------------------------------------


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


# --- pull requests -----------------------------------------------------------------------------


def _pr_links(repo: Repository, pr_id: int, base: str, html: str) -> tuple[str, str]:
    return (
        f"{_repo_api(base, repo)}/pullrequests/{pr_id}",
        f"{_repo_html(html, repo)}/pull-requests/{pr_id}",
    )


def pullrequest_ref(
    world: World, repo: Repository, pr: PullRequest, base: str, html: str = HTML_BASE
) -> Doc:
    """The condensed PR embedded in comments and activity ``{type, id, title, links}``."""
    api, web = _pr_links(repo, pr.id, base, html)
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
    api, web = _pr_links(repo, pr.id, base, html)
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
    api, web = _pr_links(repo, pr.id, base, html)
    doc = {"type": "pullrequest_comment", **_comment_base(world, c, base, html)}
    doc["pullrequest"] = pullrequest_ref(world, repo, pr, base, html)
    doc["links"] = {
        "self": _href(f"{api}/comments/{c.id}"),
        "html": _href(f"{web}/_/diff#comment-{c.id}"),
    }
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
        doc["parent"] = {
            "id": c.parent_id,
            "links": {
                "self": _href(f"{api}/comments/{c.parent_id}"),
                "html": _href(f"{web}/_/diff#comment-{c.parent_id}"),
            },
        }
    return doc


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


def error(message: str, detail: str | None = None) -> Doc:
    """The standard error body ``{"type": "error", "error": {"message": ...}}`` (§6.2)."""
    body: Doc = {"message": message}
    if detail:
        body["detail"] = detail
    return {"type": "error", "error": body}


def job_status(status: str, phase: str, total: int, count: int) -> Doc:
    """An ``issue_job_status`` body of the export job (§6.4)."""
    pct = int(count * 100 / total) if total else 0
    return {
        "type": "issue_job_status",
        "status": status,
        "phase": phase,
        "total": total,
        "count": count,
        "pct": pct,
    }
