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


def compact(obj: Any) -> Any:
    """``obj`` without derivable links and duplicates, or ``obj`` itself if nothing drops."""
    if not isinstance(obj, dict):
        return obj
    base = _guess_base(obj)
    out = _walk(obj, base, _kind(obj, ""), forward=True)
    if out == obj:
        return obj
    kept = {k: v for k, v in base.items() if CLOUD.get(k) != v}
    out = {**out, "_links": kept}
    return out if rebuild(out) == obj else obj


def rebuild(obj: Any) -> Any:
    """The object as the API sent it, from its compacted form (the inverse of ``compact``)."""
    if not isinstance(obj, dict) or "_links" not in obj:
        return obj
    out = dict(obj)
    base = {**CLOUD, **out.pop("_links")}
    return _walk(out, base, _kind(out, ""), forward=False)


# -- the walk ----------------------------------------------------------------------------------


def _context(node: dict, ctx: dict, kind: str) -> dict:
    """The template values inside ``node``: its repository, PR and issue ids."""
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


def _values(node: dict, ctx: dict) -> dict:
    values = dict(ctx)
    if "id" in node:
        values["id"] = node["id"]
    if isinstance(node.get("uuid"), str):
        values["uuid"] = quote(node["uuid"], safe="")
    if isinstance(node.get("hash"), str):
        values["hash"] = node["hash"]
    if isinstance(node.get("name"), str):
        values["name"] = quote(node["name"])
    path = _get(node, "inline.path")
    if isinstance(path, str):
        values["path"] = quote(path)
    slug = node.get("username") or node.get("slug")
    if isinstance(slug, str):
        values["slug"] = slug
    return values


def _fill(template: str, values: dict) -> str | None:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return None


def _compact_links(links: Any, kind: str, values: dict) -> Any:
    """The list form of ``links`` when every href follows from ``values``, else ``links``."""
    templates = TEMPLATES.get(kind)
    if not templates or not isinstance(links, dict) or not links:
        return links
    extra: dict = {}
    if kind == "commit" and len(str(values.get("hash", ""))) < 40:
        match = _FULL_HASH.search(str(_get(links, "self.href", "")))
        if match is None or not match.group(1).startswith(str(values.get("hash"))):
            return links
        extra = {"hash": match.group(1)}
    filled = {**values, **extra}
    for name, link in links.items():
        if name not in templates or not isinstance(link, dict) or list(link) != ["href"]:
            return links
        if _fill(templates[name], filled) != link["href"]:
            return links
    return [*links, extra] if extra else list(links)


def _rebuild_links(names: list, kind: str, values: dict) -> dict:
    extra = names[-1] if names and isinstance(names[-1], dict) else None
    filled = {**values, **(extra or {})}
    templates = TEMPLATES[kind]
    return {name: {"href": templates[name].format(**filled)} for name in names if name != extra}


def _walk(node: Any, ctx: dict, kind: str, forward: bool) -> Any:
    """Compact (``forward``) or rebuild one value whose kind is ``kind``."""
    if isinstance(node, list):
        return [_walk(v, ctx, _kind(v, kind), forward) for v in node]
    if not isinstance(node, dict):
        return node
    ctx = _context(node, ctx, kind)
    out = {}
    for key, value in node.items():
        if key == "links" and forward:
            out[key] = _compact_links(value, kind, _values(node, ctx))
        elif key == "links" and isinstance(value, list):
            out[key] = _rebuild_links(value, kind, _values(node, ctx))
        elif key == "_dup" and not forward:
            continue
        elif isinstance(value, dict | list):
            out[key] = _walk(value, ctx, _kind(value, f"{kind}.{key}"), forward)
        else:
            out[key] = value
    if forward:
        dropped = []
        for index, (path, same_as) in enumerate(DUPLICATES):
            value = _get(out, path, _MISSING)
            if value is not _MISSING and value == _get(out, same_as, _MISSING):
                out = _drop(out, path)
                dropped.append(index)
        if dropped:
            out["_dup"] = dropped
    else:
        for index in reversed(node.get("_dup", [])):
            path, same_as = DUPLICATES[index]
            out = _put(out, path, _get(out, same_as))
    return out


# -- paths and guesses ---------------------------------------------------------------------------


def _get(node: Any, path: str, default: Any = None) -> Any:
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _drop(node: dict, path: str) -> dict:
    head, _, rest = path.partition(".")
    if not rest:
        return {k: v for k, v in node.items() if k != head}
    return {**node, head: _drop(node[head], rest)}


def _put(node: dict, path: str, value: Any) -> dict:
    head, _, rest = path.partition(".")
    if not rest:
        return {**node, head: value}
    return {**node, head: _put(node.get(head, {}), rest, value)}


def _hrefs(node: Any, name: str = "") -> list[tuple[str, str]]:
    """Every (link name, href) in the object, depth first."""
    if isinstance(node, list):
        return [h for v in node for h in _hrefs(v, name)]
    if not isinstance(node, dict):
        return []
    found = [(name, node["href"])] if isinstance(node.get("href"), str) else []
    for key, value in node.items():
        if isinstance(value, dict | list):
            found += _hrefs(value, key)
    return found


def _guess_base(obj: dict) -> dict:
    """API base, web base and repository the object's links are built on (checked later)."""
    base: dict = {}
    for name, href in _hrefs(obj):
        if "api" not in base and (match := _API.match(href)):
            base["api"] = match.group(1)
        if "repo" not in base and (match := _REPO.search(href)):
            base["repo"] = match.group(1)
        if "web" not in base and name == "html":
            parts = urlsplit(href)
            base["web"] = f"{parts.scheme}://{parts.netloc}"
    return base
