"""Data Center's git objects as rows: commits (with their parents and Jira keys), refs, builds."""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.flavours.server.rows import _jira_row, _ms, _user, jira_keys
from bbmirror.rows import RowSet, add_parents, commit_key, ref_row, status_row


def commit(obj: dict, *, source: str, repository_id: str) -> RowSet:
    obj = shared.as_object(obj, "commit")
    sha = shared.need(obj, "id", "commit")
    rs: RowSet = {}
    author = obj.get("author") if isinstance(obj.get("author"), dict) else {}
    committer = obj.get("committer") if isinstance(obj.get("committer"), dict) else {}
    key = commit_key(repository_id, sha)
    parents = [p for p in obj.get("parents") or () if isinstance(p, dict) and p.get("id")]
    shared.add(
        rs,
        "commits",
        {
            "id": key,
            "source": source,
            "repository_id": repository_id,
            "hash": sha,
            "author_raw": _raw(author),
            "author_name": author.get("name"),
            "author_email": author.get("emailAddress"),
            "author_id": _user(rs, author, source),
            "date": _ms(obj, "authorTimestamp", "commit"),
            "committer_raw": _raw(committer),
            "committer_date": _ms(obj, "committerTimestamp", "commit"),
            "message": obj.get("message"),
            "parent_count": len(parents),
            "json": shared.dumps(obj),
        },
    )
    for issue_key in jira_keys(obj.get("message")):
        shared.add(
            rs,
            "jira_links",
            _jira_row(source, repository_id, None, key, issue_key, None, "message"),
        )
    pairs = [(parent["id"], shared.dumps(parent)) for parent in parents]
    add_parents(rs, key, pairs, source=source, repository_id=repository_id, infix="/")
    return rs


def _raw(person: dict) -> str | None:
    """``Name <email>`` like Cloud's ``author.raw``; a known user shows their display name."""
    name, email = person.get("displayName") or person.get("name"), person.get("emailAddress")
    if not name and not email:
        return None
    return f"{name} <{email}>" if email else str(name)


def ref(obj: dict, *, source: str, repository_id: str, kind: str) -> RowSet:
    """A branch or tag (``kind`` "branch" | "tag"): name → latest commit."""
    obj = shared.as_object(obj, kind)
    name = shared.need(obj, "displayId", kind)
    row = ref_row(kind, name, obj.get("latestCommit"), source, repository_id)
    row["json"] = shared.dumps(obj)
    if kind == "branch":
        row["is_default"] = int(bool(obj.get("isDefault")))
        return {"branches": [row]}
    row.update(date=None, message=None, tagger_raw=None, tagger_id=None)
    return {"tags": [row]}


def build_status(obj: dict, *, source: str, repository_id: str, commit_hash: str) -> RowSet:
    obj = shared.as_object(obj, "build status")
    key = shared.need(obj, "key", "build status")
    added = _ms(obj, "dateAdded", "build status")
    row = status_row(obj, key, source, repository_id, commit_hash)
    row |= {
        "refname": obj.get("ref"),
        "created_on": added,
        "updated_on": _ms(obj, "updatedDate", "build status") or added,
        "json": shared.dumps(obj),
    }
    return {"commit_statuses": [row]}


def pr_commit_link(obj: dict, *, source: str, repository_id: str, pullrequest_id: str) -> RowSet:
    """A commit of a PR: the commit's rows and the PR ↔ commit link."""
    rs = commit(obj, source=source, repository_id=repository_id)
    shared.add(
        rs, "pullrequest_commits", pr_commit_row(obj["id"], source, repository_id, pullrequest_id)
    )
    return rs


def pr_commit_row(sha: str, source: str, repository_id: str, pullrequest_id: str) -> dict:
    """The PR ↔ commit link (also derived from the commit graph: engine/graph_commits.py)."""
    return {
        "id": f"{pullrequest_id}/{sha}",
        "source": source,
        "pullrequest_id": pullrequest_id,
        "repository_id": repository_id,
        "commit_id": commit_key(repository_id, sha),
        "hash": sha,
        "json": shared.dumps({"id": sha}),
    }
