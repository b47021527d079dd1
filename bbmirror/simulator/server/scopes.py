"""Narrow credentials on Data Center: which paths a project or repository token may read.

An HTTP access token is tied to projects or repositories (``"PROJ"`` or
``"PROJ/slug"``); outside them, and on ``/users``, it gets Server's 401 ``AuthorisationException``.
"""

from __future__ import annotations

import re

_DC_REPO = re.compile(r"/projects/([^/]+)(?:/repos/([^/]+))?")


def dc_allowed(path: str, grants: tuple[str, ...] | None) -> bool:
    """Whether a Data Center token tied to ``grants`` ("PROJ" or "PROJ/slug") may read ``path``."""
    if grants is None:
        return True
    if path.rstrip("/").endswith(("/users", "/repos")) and "/projects/" not in path:
        return False  # instance-wide lists need a user, not a project or repository token
    if "/users/" in path or "/build-status/" in path:
        return True  # build statuses are per commit; the repository check already guards them
    found = _DC_REPO.search(path)
    if found is None:
        return True
    project, slug = found.group(1).upper(), found.group(2)
    for grant in grants:
        key, _, repo = grant.partition("/")
        if key.upper() == project and (not repo or not slug or repo == slug):
            return True
    return False
