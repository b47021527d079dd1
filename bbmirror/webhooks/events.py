"""What a delivery asks to refresh: its event key and the repository / PR it names.

Payload shapes (Atlassian, "Event payloads": support.atlassian.com/bitbucket-cloud/docs/
event-payloads/ and confluence.atlassian.com/bitbucketserver/event-payload-938025882.html;
captured real deliveries in tests/fixtures/real/webhooks/):

* Cloud names the repository as ``repository.full_name`` (and ``uuid``), a pull request as
  ``pullrequest.id``; the key is in ``X-Event-Key``, the delivery's id in ``X-Request-UUID``
  (``X-Hook-UUID`` names the webhook, the same for every delivery).
* Data Center names it as ``repository.project.key`` + ``slug`` (a push) or the pull request's
  ``toRef.repository`` (``pullRequest.id``); the key is in ``X-Event-Key`` and also in the
  body's ``eventKey``; the delivery's id in ``X-Request-Id``.

Only names are read from a payload; the refresh asks the API what the object is now.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOUD_PR_EVENTS = frozenset(
    f"pullrequest:{e}"
    for e in (
        "created", "updated", "approved", "unapproved", "changes_request_created",
        "changes_request_removed", "fulfilled", "rejected", "comment_created",
        "comment_updated", "comment_deleted",
    )
)  # fmt: skip
CLOUD_PUSH = "repo:push"
SERVER_PR_EVENTS = frozenset(
    f"pr:{e}"
    for e in (
        "opened", "modified", "from_ref_updated", "reviewer:approved", "reviewer:unapproved",
        "reviewer:needs_work", "reviewer:changes_requested", "reviewer:updated", "merged",
        "declined", "deleted", "comment:added", "comment:edited", "comment:deleted",
    )
)  # fmt: skip
SERVER_PUSH = "repo:refs_changed"
PR, PUSH = "pr", "push"


class Malformed(ValueError):
    """A delivery whose body does not have the shape its event key promises."""


@dataclass(frozen=True)
class Target:
    """One thing to refresh: a repository's refs and commits, or one pull request."""

    source: str
    repository: str  # WORKSPACE/SLUG (Cloud) or PROJECT/slug (Data Center), as sent
    what: str  # PR or PUSH
    number: int | None = None

    @property
    def key(self) -> tuple[str, str, str, int | None]:
        """Deliveries with the same key are one refresh (coalesced)."""
        return (self.source, self.repository.lower(), self.what, self.number)


def target(source: str, kind: str, event: str, body: object) -> Target | None:
    """The refresh a delivery asks for; None for an event we do not act on."""
    if kind == "server":
        if event not in SERVER_PR_EVENTS and event != SERVER_PUSH:
            return None
        if not isinstance(body, dict):
            raise Malformed("the body is not a JSON object")
        if event == SERVER_PUSH:
            return Target(source, _server_repo(body.get("repository")), PUSH)
        pr = _object(body, "pullRequest")
        repo = _object(pr, "toRef").get("repository")
        return Target(source, _server_repo(repo), PR, _number(pr.get("id")))
    if event not in CLOUD_PR_EVENTS and event != CLOUD_PUSH:
        return None
    if not isinstance(body, dict):
        raise Malformed("the body is not a JSON object")
    full_name = _object(body, "repository").get("full_name")
    if not isinstance(full_name, str) or full_name.count("/") != 1 or len(full_name) > 300:
        raise Malformed("repository.full_name is not WORKSPACE/SLUG")
    if event == CLOUD_PUSH:
        return Target(source, full_name, PUSH)
    return Target(source, full_name, PR, _number(_object(body, "pullrequest").get("id")))


def _object(body: dict, name: str) -> dict:
    value = body.get(name)
    if not isinstance(value, dict):
        raise Malformed(f"{name} is not an object")
    return value


def _number(value: object) -> int:
    if type(value) is not int or not 0 < value < 2**31:
        raise Malformed("the pull request id is not a positive whole number")
    return value


def _server_repo(repo: object) -> str:
    if not isinstance(repo, dict):
        raise Malformed("repository is not an object")
    slug, project = repo.get("slug"), repo.get("project")
    key = project.get("key") if isinstance(project, dict) else None
    if not (isinstance(slug, str) and isinstance(key, str) and slug and key):
        raise Malformed("repository has no project key and slug")
    if "/" in slug or "/" in key or len(slug) + len(key) > 300:
        raise Malformed("repository has an impossible project key or slug")
    return f"{key}/{slug}"
