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
    Membership,
    Named,
    Project,
    Repository,
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


# --- commits and refs --------------------------------------------------------------------------


# --- pull requests -----------------------------------------------------------------------------


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
