"""Cloud JSON for issues: issues, their comments, changes and attachments."""

from __future__ import annotations

from bbmirror.simulator.cloud.render import (
    HTML_BASE,
    Doc,
    _href,
    _q,
    _repo_api,
    _repo_html,
    named,
    rendered,
    repository,
    user_by_uuid,
)
from bbmirror.simulator.cloud.world import (
    Attachment,
    Comment,
    Issue,
    IssueChange,
    Named,
    Repository,
    World,
)


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
