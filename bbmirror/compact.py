"""Stored JSON without what follows from it: derivable ``links`` and rendered duplicates.

A Cloud object's ``links`` are mostly URLs built from ids (a user's ``self`` is
``{api}/users/{uuid}``) and its ``summary``/``rendered`` repeat ``message`` or ``description``.
``compact`` drops exactly those parts and ``rebuild`` puts them back; ``compact`` keeps an
object unchanged unless ``rebuild(compact(obj)) == obj``, so no stored row can lose a byte of
meaning (DESIGN principle 3). What the stored JSON looks like after compaction:

- ``"links": ["self", "html"]``: the names of links whose hrefs follow from the object's ids
  by the templates below (a link that does not, such as a real avatar CDN URL, keeps the whole
  ``links`` object as sent). A trailing ``{"hash": ...}`` gives a commit's full hash when the
  object shows only the 12-character form.
- ``"_links": {"api": ..., "web": ..., "repo": ...}`` at the top: the API base, web base and
  repository the templates are filled with; ``api`` and ``web`` are left out when they are
  Bitbucket Cloud's own (``CLOUD``), so on bitbucket.org it is only ``{"repo": ...}``.
- ``"_dup": [0, 1]`` in an object: the entries of ``DUPLICATES`` (by position; the list only
  grows) whose first key was dropped because it equals the second, e.g. a commit's
  ``rendered.message`` (a copy of ``summary``) and ``summary.raw`` (a copy of ``message``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import repeat
from typing import Any
from urllib.parse import quote, urlsplit

_REPO_API = "{api}/repositories/{repo}"
_PR = _REPO_API + "/pullrequests/{id}"
_COMMIT = _REPO_API + "/commit/{hash}"
_ISSUE = _REPO_API + "/issues/{id}"


def _subs(base: str, *names: str) -> dict[str, str]:
    return {name: f"{base}/{name}" for name in names}


# How each kind of object's links follow from its ids (the object's "type", or the parent's
# type and key for untyped objects such as a comment's "parent"). Matches Bitbucket Cloud's
# URLs as the simulator and the real-payload corpus show them; anything else is kept.
TEMPLATES: dict[str, dict[str, str]] = {
    "user": {
        "self": "{api}/users/{uuid}",
        "html": "{web}/{uuid}/",
        "avatar": "{web}/account/{uuid}/avatar/",
    },
    "team": {
        "self": "{api}/workspaces/{slug}",
        "html": "{web}/{slug}/",
        "avatar": "{web}/workspaces/{slug}/avatar/",
    },
    "repository": {
        "self": "{api}/repositories/{repo}",
        "html": "{web}/{repo}",
        "avatar": "{web}/{repo}/avatar/32/",
    },
    "commit": {
        "self": _COMMIT,
        "html": "{web}/{repo}/commits/{hash}",
        "patch": _REPO_API + "/patch/{hash}",
        "diff": _REPO_API + "/diff/{hash}",
        **_subs(_COMMIT, "comments", "approve", "statuses"),
    },
    "pullrequest": {
        "self": _PR,
        "html": "{web}/{repo}/pull-requests/{id}",
        **_subs(_PR, "commits", "approve", "request-changes", "diff", "diffstat", "comments"),
        **_subs(_PR, "activity", "merge", "decline", "statuses"),
    },
    "pullrequest_comment": {
        "self": _REPO_API + "/pullrequests/{pr}/comments/{id}",
        "html": "{web}/{repo}/pull-requests/{pr}/_/diff#comment-{id}",
        "code": _REPO_API + "/pullrequests/{pr}/diff/{path}",
    },
    "issue": {
        "self": _ISSUE,
        "html": "{web}/{repo}/issues/{id}",
        **_subs(_ISSUE, "comments", "attachments", "watch", "vote"),
    },
    "issue_comment": {
        "self": _REPO_API + "/issues/{issue}/comments/{id}",
        "html": "{web}/{repo}/issues/{issue}#comment-{id}",
    },
    "issue_change": {
        "self": _REPO_API + "/issues/{issue}/changes/{id}",
        "html": "{web}/{repo}/issues/{issue}#comment-{id}",
        "issue": _REPO_API + "/issues/{issue}",
    },
    "component": {"self": _REPO_API + "/components/{id}"},
    "milestone": {"self": _REPO_API + "/milestones/{id}"},
    "version": {"self": _REPO_API + "/versions/{id}"},
    "branch": {
        "commits": _REPO_API + "/commits/{name}",
        "self": _REPO_API + "/refs/branches/{name}",
        "html": "{web}/{repo}/branch/{name}",
        "pullrequest_create": "{web}/{repo}/pull-requests/new?source={name}&t=1",
    },
    "tag": {
        "commits": _REPO_API + "/commits/{name}",
        "self": _REPO_API + "/refs/tags/{name}",
        "html": "{web}/{repo}/commits/tag/{name}",
    },
}
TEMPLATES["workspace"] = TEMPLATES["team"]
TEMPLATES["pullrequest_comment.parent"] = TEMPLATES["pullrequest_comment"]
TEMPLATES["issue_comment.parent"] = {"self": TEMPLATES["issue_comment"]["self"]}

# (dropped path, path it equals) inside one object, in the order they are dropped. Stored rows
# name these by position: append only, never reorder.
DUPLICATES: list[tuple[str, str]] = [
    ("rendered.message", "summary"),
    ("summary.raw", "message"),
    ("rendered.description", "summary"),
    ("summary.raw", "description"),
    ("rendered.title.raw", "title"),
    ("rendered.reason.raw", "reason"),
    ("comment.pullrequest", "pull_request"),  # activity entries name their PR twice
    ("approval.pullrequest", "pull_request"),
    ("changes_requested.pullrequest", "pull_request"),
]

# The bases of bitbucket.org's links, assumed when ``_links`` names no other.
CLOUD = {"api": "https://api.bitbucket.org/2.0", "web": "https://bitbucket.org"}
_MISSING = object()
_FULL_HASH = re.compile(r"/commits?/([0-9a-f]{40})$")
_API = re.compile(r"^(.*?)/(?:repositories|users|workspaces)/")
_REPO = re.compile(r"/repositories/([^/?#]+/[^/?#]+)")
# DUPLICATES as key tuples, and the keys an object needs for any of them to apply: most
# objects have none, and are not looked into.
_DUP_PATHS = [(i, tuple(p.split(".")), tuple(s.split("."))) for i, (p, s) in enumerate(DUPLICATES)]
_DUP_HEADS = frozenset(path[0] for _, path, _ in _DUP_PATHS)
# The kinds _context reads ids from (besides its keys): an object with neither adds nothing.
_CTX_KINDS = frozenset({"repository", "pullrequest", "issue"})
# What JSON holds besides objects and lists: nothing to walk into (one set lookup per value).
_LEAVES = frozenset({str, int, float, bool, type(None)})


def compact(obj: Any) -> Any:
    """``obj`` without derivable links and duplicates, or ``obj`` itself if nothing drops."""
    if not isinstance(obj, dict):
        return obj
    base: dict = {}  # the API base, web base and repository the links are built on
    _scan(obj, "", base)
    out = _forward(obj, base, _kind(obj, ""))
    if out is obj or out == obj:
        return obj
    kept = {k: v for k, v in base.items() if CLOUD.get(k) != v}
    out = {**out, "_links": kept}
    try:
        return out if rebuild(out) == obj else obj
    except (KeyError, IndexError, TypeError, ValueError):
        return obj  # a form that cannot even be rebuilt is no form to store


def rebuild(obj: Any) -> Any:
    """The object as the API sent it, from its compacted form (the inverse of ``compact``)."""
    if not isinstance(obj, dict) or "_links" not in obj:
        return obj
    out = dict(obj)
    base = {**CLOUD, **out.pop("_links")}
    return _back(out, base, _kind(out, ""))


# -- the walks ---------------------------------------------------------------------------------


def _context(node: dict, ctx: dict, kind: str) -> dict:
    """The template values inside ``node``: its repository, PR and issue ids."""
    if kind not in _CTX_KINDS and not (
        "repository" in node or "pullrequest" in node or "pull_request" in node or "issue" in node
    ):
        return ctx  # nothing below can add a value
    found = {}
    repo = node.get("repository")
    if isinstance(repo, dict) and isinstance(repo.get("full_name"), str):
        found["repo"] = repo["full_name"]
    if kind == "repository" and isinstance(node.get("full_name"), str):
        found["repo"] = node["full_name"]
    for key in ("pullrequest", "pull_request"):
        if isinstance(node.get(key), dict) and "id" in node[key]:
            found["pr"] = node[key]["id"]
    if kind == "pullrequest" and "id" in node:
        found["pr"] = node["id"]
    if isinstance(node.get("issue"), dict) and "id" in node["issue"]:
        found["issue"] = node["issue"]["id"]
    if kind == "issue" and "id" in node:
        found["issue"] = node["id"]
    return {**ctx, **found} if found else ctx


def _kind(node: Any, fallback: str) -> str:
    """An object's kind: its ``type``, else where it sits (``pullrequest_comment.parent``)."""
    kind = node.get("type") if isinstance(node, dict) else None
    return kind if isinstance(kind, str) else fallback


@lru_cache(maxsize=8192)
def _quote(text: str, safe: str) -> str:
    """``quote``, remembered: the same uuids and names recur in every row."""
    return quote(text, safe=safe)


def _values(node: dict, ctx: dict) -> dict:
    values = dict(ctx)
    if "id" in node:
        values["id"] = node["id"]
    if isinstance(uuid := node.get("uuid"), str):
        values["uuid"] = _quote(uuid, "")
    if isinstance(commit := node.get("hash"), str):
        values["hash"] = commit
    if isinstance(name := node.get("name"), str):
        values["name"] = _quote(name, "/")
    if "inline" in node and isinstance(path := _get(node, ("inline", "path")), str):
        values["path"] = _quote(path, "/")
    slug = node.get("username") or node.get("slug")
    if isinstance(slug, str):
        values["slug"] = slug
    return values


def _compact_links(links: Any, kind: str, node: dict, ctx: dict) -> Any:
    """The list form of ``links`` when every href follows from ``node``, else ``links``."""
    templates = TEMPLATES.get(kind)
    if not templates or not isinstance(links, dict) or not links:
        return links
    values = _values(node, ctx)
    extra: dict = {}
    if kind == "commit" and len(str(values.get("hash", ""))) < 40:
        match = _FULL_HASH.search(str(_get(links, ("self", "href"), "")))
        if match is None or not match.group(1).startswith(str(values.get("hash"))):
            return links
        extra = {"hash": match.group(1)}
    filled = {**values, **extra} if extra else values
    for name, link in links.items():
        template = templates.get(name)
        if template is None or not isinstance(link, dict) or len(link) != 1 or "href" not in link:
            return links
        try:
            href = template.format_map(filled)
        except (KeyError, IndexError, ValueError):
            href = None  # a value is missing: only a null href matches, and the check decides
        if href != link["href"]:
            return links
    return [*links, extra] if extra else list(links)


def _rebuild_links(names: list, kind: str, values: dict) -> dict:
    extra = names[-1] if names and isinstance(names[-1], dict) else None
    filled = {**values, **extra} if extra else values
    templates = TEMPLATES[kind]
    return {name: {"href": templates[name].format_map(filled)} for name in names if name != extra}


def _forward(node: dict, ctx: dict, kind: str) -> dict:
    """``node`` compacted; ``node`` itself when nothing in it changes (no copy to make)."""
    ctx = _context(node, ctx, kind)
    out = None
    for key, value in node.items():
        if type(value) in _LEAVES:
            continue
        if key == "links":
            new = _compact_links(value, kind, node, ctx)
        elif isinstance(value, dict):
            typed = value.get("type")
            new = _forward(value, ctx, typed if isinstance(typed, str) else f"{kind}.{key}")
        elif isinstance(value, list):
            new = _forward_list(value, ctx, f"{kind}.{key}")
        else:
            continue
        if new is not value:
            if out is None:
                out = dict(node)
            out[key] = new
    if out is None:
        out = node
    if _DUP_HEADS.isdisjoint(node):
        return out
    dropped = []
    for index, path, same_as in _DUP_PATHS:
        if path[0] in out:
            value = _get(out, path, _MISSING)
            if value is not _MISSING and value == _get(out, same_as, _MISSING):
                out = _drop(out, path)
                dropped.append(index)
    if dropped:
        out["_dup"] = dropped  # out is a new dict: _drop copies what it changes
    return out


def _forward_list(items: list, ctx: dict, kind: str) -> list:
    """Each item compacted; ``items`` itself when none changes."""
    out = None
    for index, value in enumerate(items):
        if type(value) in _LEAVES:
            continue
        if isinstance(value, dict):
            new = _forward(value, ctx, _kind(value, kind))
        elif isinstance(value, list):
            new = _forward_list(value, ctx, kind)
        else:
            continue
        if new is not value:
            if out is None:
                out = list(items)
            out[index] = new
    return items if out is None else out


def _back(node: Any, ctx: dict, kind: str) -> Any:
    """Rebuild one value whose kind is ``kind``."""
    if isinstance(node, list):
        return [v if type(v) in _LEAVES else _back(v, ctx, _kind(v, kind)) for v in node]
    if not isinstance(node, dict):
        return node
    ctx = _context(node, ctx, kind)
    out = {}
    for key, value in node.items():
        if type(value) in _LEAVES:
            if key != "_dup":
                out[key] = value
        elif key == "links" and isinstance(value, list):
            out[key] = _rebuild_links(value, kind, _values(node, ctx))
        elif key == "_dup":
            continue
        elif isinstance(value, dict):
            typed = value.get("type")
            out[key] = _back(value, ctx, typed if isinstance(typed, str) else f"{kind}.{key}")
        elif isinstance(value, list):
            out[key] = _back(value, ctx, f"{kind}.{key}")
        else:
            out[key] = value
    for index in reversed(node.get("_dup", [])):
        _, path, same_as = _DUP_PATHS[index]
        out = _put(out, path, _get(out, same_as))
    return out


# -- paths and guesses ---------------------------------------------------------------------------


def _get(node: Any, path: tuple[str, ...], default: Any = None) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _drop(node: dict, path: tuple[str, ...]) -> dict:
    head = path[0]
    if len(path) == 1:
        return {k: v for k, v in node.items() if k != head}
    return {**node, head: _drop(node[head], path[1:])}


def _put(node: dict, path: tuple[str, ...], value: Any) -> dict:
    head = path[0]
    if len(path) == 1:
        return {**node, head: value}
    return {**node, head: _put(node.get(head, {}), path[1:], value)}


def _scan(node: dict | list, name: str, base: dict) -> bool:
    """Guess ``base`` from the first fitting (link name, href), depth first (checked later);
    True once it is complete."""
    if isinstance(node, dict):
        href = node.get("href")
        if isinstance(href, str):
            if "api" not in base and (match := _API.match(href)):
                base["api"] = match.group(1)
            if "repo" not in base and (match := _REPO.search(href)):
                base["repo"] = match.group(1)
            if "web" not in base and name == "html":
                parts = urlsplit(href)
                base["web"] = f"{parts.scheme}://{parts.netloc}"
            if len(base) == 3:
                return True
    children = node.items() if isinstance(node, dict) else zip(repeat(name), node)
    for key, value in children:
        if (
            type(value) not in _LEAVES
            and isinstance(value, dict | list)
            and _scan(value, key, base)
        ):
            return True
    return False
