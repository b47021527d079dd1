"""Cloud issue fields and change logs, shared by generation, mutation and the invariants."""

from __future__ import annotations

import random

from bbmirror.simulator.cloud.world import (
    ISSUE_KINDS,
    ISSUE_PRIORITIES,
    ISSUE_STATES,
    Issue,
    Repository,
    World,
)
from bbmirror.simulator.common.pools import markdown, title

ISSUE_FIELDS = (
    "title",
    "state",
    "kind",
    "priority",
    "assignee_uuid",
    "milestone_id",
    "version_id",
    "component_id",
    "content",
)
_ENUMS = {"state": ISSUE_STATES, "kind": ISSUE_KINDS, "priority": ISSUE_PRIORITIES}
_NEXT_STATES = {
    "new": (("open", 50), ("resolved", 20), ("closed", 10), ("invalid", 5), ("duplicate", 5)),
    "submitted": (("open", 60), ("new", 20), ("invalid", 20)),
    "open": (("resolved", 50), ("closed", 20), ("on hold", 10), ("wontfix", 10), ("new", 2)),
    "on hold": (("open", 70), ("wontfix", 20), ("closed", 10)),
}
_REOPEN = (("open", 60), ("closed", 30), ("new", 10))


def random_issue_fields(
    rng: random.Random, repo: Repository, issue: Issue, members: list[str]
) -> dict[str, object]:
    """One or two fields to change and their new values; state changes are the most common."""
    wanted = rng.choices(
        ("state", "assignee_uuid", "priority", "kind", "milestone_id", "version_id")
        + ("component_id", "title", "content"),
        (50, 15, 10, 5, 5, 5, 5, 3, 2),
        k=rng.randint(1, 2),
    )
    fields: dict[str, object] = {}
    for name in dict.fromkeys(wanted):
        value = random_issue_value(rng, repo, issue, name, members)
        if value is not ...:
            fields[name] = value
    return fields


def random_issue_value(
    rng: random.Random, repo: Repository, issue: Issue, name: str, members: list[str]
) -> object:
    """A plausible new value for an issue field, or ``...`` when there is nothing to change to."""
    if name == "state":
        options = _NEXT_STATES.get(issue.state, _REOPEN)
        values = [v for v, _ in options if v != issue.state]
        weights = [w for v, w in options if v != issue.state]
        return rng.choices(values, weights)[0]
    if name == "kind":
        return rng.choice([k for k in ISSUE_KINDS if k != issue.kind])
    if name == "priority":
        return rng.choice([p for p in ISSUE_PRIORITIES if p != issue.priority])
    if name == "assignee_uuid":
        options = [m for m in members if m != issue.assignee_uuid]
        if issue.assignee_uuid and rng.random() < 0.2:
            return None
        return rng.choice(options) if options else ...
    if name in ("milestone_id", "version_id", "component_id"):
        named = getattr(repo, name.replace("_id", "s"))
        current = getattr(issue, name)
        options = [i for i in named if i != current]
        if current is not None and (not options or rng.random() < 0.2):
            return None
        return rng.choice(options) if options else ...
    if name == "title":
        return title(rng)
    if name == "content":
        return markdown(rng, 2)
    raise ValueError(f"unknown issue field {name!r}")


def _named(repo: Repository, name: str, value: object) -> str:
    if value is None:
        return ""
    table = getattr(repo, name.replace("_id", "s"))
    return table[value].name


def issue_field_strings(world: World, repo: Repository, issue: Issue) -> dict[str, str]:
    """The issue's current values as change-log strings (cleared = ``""``)."""
    assignee = world.user(issue.assignee_uuid)
    return {
        "title": issue.title,
        "state": issue.state,
        "kind": issue.kind,
        "priority": issue.priority,
        "assignee": assignee.nickname if assignee else "",
        "assignee_account_id": assignee.account_id if assignee else "",
        "milestone": _named(repo, "milestone_id", issue.milestone_id),
        "version": _named(repo, "version_id", issue.version_id),
        "component": _named(repo, "component_id", issue.component_id),
        "content": issue.content,
    }


def issue_changes(
    world: World, repo: Repository, issue: Issue, fields: dict[str, object]
) -> dict[str, dict[str, str]]:
    """The ``changes`` object a change record gets for setting ``fields``: only what differs."""
    changes: dict[str, dict[str, str]] = {}
    old = issue_field_strings(world, repo, issue)
    for name, value in fields.items():
        if name not in ISSUE_FIELDS:
            raise ValueError(f"unknown issue field {name!r}")
        allowed = _ENUMS.get(name)
        if allowed is not None and value not in allowed:
            raise ValueError(f"{value!r} is not a valid {name}")
        if name in ("title", "content") and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        if getattr(issue, name) == value:
            continue
        if name == "assignee_uuid":
            user = world.user(value)  # type: ignore[arg-type]
            if value is not None and user is None:
                raise ValueError(f"unknown user {value!r}")
            changes["assignee"] = {"old": old["assignee"], "new": user.nickname if user else ""}
            changes["assignee_account_id"] = {
                "old": old["assignee_account_id"],
                "new": user.account_id if user else "",
            }
        elif name.endswith("_id"):
            table = getattr(repo, name.replace("_id", "s"))
            if value is not None and value not in table:
                raise ValueError(f"no {name[:-3]} {value!r} in {repo.full_name}")
            key = name[:-3]
            changes[key] = {"old": old[key], "new": _named(repo, name, value)}
        else:
            changes[name] = {"old": old[name], "new": str(value)}
    return changes


def apply_issue_fields(issue: Issue, fields: dict[str, object]) -> None:
    """Set the fields on the issue (after ``issue_changes`` validated them)."""
    for name, value in fields.items():
        setattr(issue, name, value)


def issue_updated_on(world: World, issue: Issue) -> str:
    """The issue's ``updated_on`` as the generator defines it: the latest bumping event."""
    settings = world.settings
    stamps = [issue.created_on, *(c.created_on for c in issue.changes)]
    if settings.comment_bumps_issue:
        stamps += [c.updated_on for c in issue.comments]
    if settings.attachment_bumps_issue:
        stamps += [a.created_on for a in issue.attachments]
    return max(stamps)


def bumps_pr(world: World, kind: str) -> bool:
    """Whether an activity entry of this kind moves the PR's ``updated_on`` under the settings."""
    if kind == "comment":
        return world.settings.comment_bumps_pr
    if kind in ("approval", "changes_requested"):
        return world.settings.approval_bumps_pr
    return True
