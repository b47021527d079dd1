"""Narrow credentials: which endpoint families a Cloud scope set may read.

Cloud (developer.atlassian.com "Scopes for the Bitbucket Cloud REST API", "API token
permissions"; reference bitbucket-cloud.md §6.1). A credential carries OAuth-style scope names
(``account``, ``team``, ``project``, ``repository``, ``pullrequest``, ``issue``, ``pipeline``,
their ``:write``/``:admin`` forms) as repository, project and workspace access tokens do, or
scoped API token names (``read:repository:bitbucket``...). Each path belongs to one family;
outside the credential's families Bitbucket answers 403 with
``{"type": "error", "error": {"message": "Your credentials lack one or more required privilege
scopes.", "detail": {"required": [...], "granted": [...]}}}`` (seen in public bug reports).

Choices where the documentation is silent (docs/simulator.md):

- ``/user`` needs ``account`` (``read:user:bitbucket``); repository, project and workspace
  access tokens cannot be given it, so they get a 403 there.
- ``/user/workspaces``, ``/workspaces/{w}`` and its members need ``team`` (workspace
  membership, ``read:workspace:bitbucket``); ``account`` implies ``team``.
- ``pullrequest`` implies ``repository`` (documented); ``issue`` does not (documented);
  ``X:write`` and ``X:admin`` imply ``X`` for OAuth names. API token names imply nothing.
- A credential with no scope entry is unrestricted (a classic personal credential).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LACKING = "Your credentials lack one or more required privilege scopes."

# First match wins; paths are relative to /2.0.
CLOUD_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"^/user/(workspaces|permissions)", "team"),
        (r"^/user(/|$)", "account"),
        (r"^/workspaces/[^/]+/projects(/|$)", "project"),
        (r"^/workspaces(/|$)", "team"),
        (r"^/repositories/[^/]+/[^/]+/(pullrequests|default-reviewers)(/|$)", "pullrequest"),
        (r"^/repositories/[^/]+/[^/]+/(issues|milestones|versions|components)(/|$)", "issue"),
        (r"^/repositories/[^/]+/[^/]+/pipelines", "pipeline"),
        (r"^/repositories/[^/]+/[^/]+/(deployments|environments)(/|$)", "pipeline"),
        (r"^/repositories(/|$)", "repository"),
    )
)

IMPLIES: dict[str, tuple[str, ...]] = {
    "account": ("account", "team"),
    "pullrequest": ("pullrequest", "repository"),
    "pullrequest:write": ("pullrequest", "repository"),
    "repository:write": ("repository",),
    "repository:admin": ("repository", "repository:admin"),
    "project:write": ("project",),
    "project:admin": ("project",),
    "issue:write": ("issue",),
    "team:write": ("team",),
    "pipeline:write": ("pipeline",),
    # Scoped API tokens (Atlassian API tokens with scopes): read scopes only, nothing implied.
    "read:user:bitbucket": ("account",),
    "read:workspace:bitbucket": ("team",),
    "read:project:bitbucket": ("project",),
    "read:repository:bitbucket": ("repository",),
    "read:pullrequest:bitbucket": ("pullrequest",),
    "read:issue:bitbucket": ("issue",),
    "read:pipeline:bitbucket": ("pipeline",),
}


def parse_scopes(text: str) -> frozenset[str]:
    """``"repository,pullrequest"`` → the scope names (for ``bbmirror simulate --token-scopes``)."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def families(scopes: Iterable[str]) -> set[str]:
    """The endpoint families a scope set may read."""
    granted: set[str] = set()
    for scope in scopes:
        granted.update(IMPLIES.get(scope, (scope,)))
    return granted


def cloud_family(path: str) -> str | None:
    """The family a /2.0 path belongs to (None: anyone authenticated may read it)."""
    for pattern, family in CLOUD_FAMILIES:
        if pattern.search(path):
            return family
    return None


# The issue export job needs ``issue`` and ``repository:admin`` (reference §6.1, §6.4).
EXPORT = re.compile(r"^/repositories/[^/]+/[^/]+/issues/export(/|$)")


def required(path: str) -> list[str]:
    """The scope families a /2.0 path needs (empty: anyone authenticated)."""
    if EXPORT.search(path):
        return ["issue", "repository:admin"]
    family = cloud_family(path)
    return [family] if family else []


def cloud_refusal(path: str, scopes: frozenset[str] | None) -> dict | None:
    """Bitbucket's 403 body when ``scopes`` do not cover ``path`` (relative to /2.0), else None."""
    if scopes is None:
        return None
    needed = required(path)
    if all(family in families(scopes) for family in needed):
        return None
    detail = {"required": needed, "granted": sorted(scopes)}
    return {"type": "error", "error": {"message": LACKING, "detail": detail}}
