"""Bitbucket Cloud's git objects as rows: commits (and PR commit links), statuses, branches, tags.

Choices where the reference is silent:

- Branches and tags reference their target commit by id; they do not write ``commits`` rows
  (the commit stream owns those, and two renderings of one commit would rewrite each other).
  PR commit links do write the commit, since a fork's commits are reachable no other way.
"""

from __future__ import annotations

import re
from typing import Any

from bbmirror import rows as shared
from bbmirror.rows import RowError, RowSet, add_parents, commit_key, ref_row, status_row

_AUTHOR = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<email>[^<>]*)>\s*$")


def pr_commit_link(obj: dict, *, source: str, repository_id: str, pullrequest_id: str) -> RowSet:
    """A commit listed by ``/pullrequests/{id}/commits``: the link row and the commit's rows."""
    obj = shared.as_object(obj, "pull request commit")
    commit_repo = shared.uuid(obj.get("repository")) or repository_id  # a fork's commits live there
    rs = commit(obj, source=source, repository_id=commit_repo)
    link = pr_commit_row(obj["hash"], source, repository_id, pullrequest_id, commit_repo)
    shared.add(rs, "pullrequest_commits", link)
    return rs


def pr_commit_row(
    hash_: str, source: str, repository_id: str, pullrequest_id: str, commit_repo: str
) -> dict:
    """The link between a PR and one of its commits (also derived from the commit graph)."""
    return {
        "id": f"{pullrequest_id}/{hash_}",
        "source": source,
        "pullrequest_id": pullrequest_id,
        "repository_id": repository_id,
        "commit_id": commit_key(commit_repo, hash_),
        "hash": hash_,
        "json": shared.json({"type": "commit", "hash": hash_}),
    }


# -- commits and refs ---------------------------------------------------------------------


def _split_author(raw: Any) -> tuple[str | None, str | None]:
    if not isinstance(raw, str):
        return None, None
    found = _AUTHOR.match(raw)
    if not found:
        return (raw.strip() or None), None
    return (found["name"] or None), (found["email"] or None)


def commit(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A commit plus one ``commit_parents`` row per parent (in order)."""
    obj = shared.as_object(obj, "commit")
    hash_ = shared.need(obj, "hash", "commit")
    key = commit_key(repository_id, hash_)
    rs: RowSet = {}
    author = obj.get("author") if isinstance(obj.get("author"), dict) else {}
    name, email = _split_author(author.get("raw"))
    parents = [p for p in obj.get("parents") or () if isinstance(p, dict) and p.get("hash")]
    row = {
        "id": key,
        "source": source,
        "repository_id": repository_id,
        "hash": hash_,
        "author_raw": author.get("raw"),
        "author_name": name,
        "author_email": email,
        "author_id": shared.ref_user(rs, author.get("user"), source),
        "date": shared.time(obj, "date", "commit"),
        "committer_raw": None,
        "committer_date": None,
        "message": obj.get("message", shared.text(obj.get("summary"))),
        "parent_count": len(parents),
        "json": shared.json(obj),
    }
    shared.add(rs, "commits", row)
    pairs = [(parent["hash"], shared.json(parent)) for parent in parents]
    add_parents(rs, key, pairs, source=source, repository_id=repository_id, infix="/parent/")
    return rs


def commit_status(
    obj: dict, *, source: str, repository_id: str, commit_hash: str | None = None
) -> RowSet:
    """A build status, keyed by commit + ``key`` (real payloads carry no ``uuid``, §3.17).

    The commit comes from the context or the ``links.commit`` URL.
    """
    obj = shared.as_object(obj, "commit status")
    key = shared.need(obj, "key", "commit status")
    if commit_hash is None:
        href = shared.get(obj, "links", "commit", "href")
        commit_hash = href.rstrip("/").rsplit("/", 1)[-1] if isinstance(href, str) else None
    if not commit_hash:
        raise RowError("commit status has no commit (context or 'links.commit')")
    row = status_row(obj, key, source, repository_id, commit_hash)
    row |= {
        "refname": obj.get("refname"),
        "created_on": shared.time(obj, "created_on", "commit status"),
        "updated_on": shared.time(obj, "updated_on", "commit status"),
        "json": shared.json(obj),
    }
    return {"commit_statuses": [row]}


def _ref(obj: dict, kind: str, source: str, repository_id: str) -> tuple[dict, dict]:
    """A branch's or tag's object, checked, and its shared columns (name → target hash)."""
    obj = shared.as_object(obj, kind)
    name = shared.need(obj, "name", kind)
    return obj, ref_row(kind, name, shared.get(obj, "target", "hash"), source, repository_id)


def branch(obj: dict, *, source: str, repository_id: str) -> RowSet:
    obj, row = _ref(obj, "branch", source, repository_id)
    return {"branches": [{**row, "is_default": None, "json": shared.json(obj)}]}


def tag(obj: dict, *, source: str, repository_id: str) -> RowSet:
    obj, row = _ref(obj, "tag", source, repository_id)
    rs: RowSet = {}
    tagger = obj.get("tagger") if isinstance(obj.get("tagger"), dict) else {}
    row |= {
        "date": shared.time(obj, "date", "tag"),
        "message": obj.get("message"),
        "tagger_raw": tagger.get("raw"),
        "tagger_id": shared.ref_user(rs, tagger.get("user"), source),
        "json": shared.json(obj),
    }
    return shared.add(rs, "tags", row)
