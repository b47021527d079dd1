"""Cloud environments and deployments -> rows (reference: bitbucket-cloud.md §3.19).

Shapes are Bitbucket's OpenAPI schemas (``deployment_environment`` with ``environment_type``
{name, rank}; ``deployment`` with ``environment``, ``release`` {commit, created_on} and
``state`` UNDEPLOYED | IN_PROGRESS | COMPLETED, the last with ``status`` SUCCESSFUL | FAILED |
STOPPED). Keys: ``{repository_id}/environment/{uuid}``, ``{repository_id}/deployment/{uuid}``.
Cloud has no ``updated_on`` on a deployment: the column stays NULL (Data Center fills it).
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.rows import RowError, RowSet, commit_key


def environment_key(repository_id: str, uuid: str) -> str:
    return f"{repository_id}/environment/{uuid}"


def environment(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """An environment; ``type`` is its environment type's name, lower case (test, production)."""
    obj = shared.as_object(obj, "environment")
    uuid = shared.need_uuid(obj, "environment")
    kind = shared.text(shared.get(obj, "environment_type", "name"))
    rank = obj.get("rank", shared.get(obj, "environment_type", "rank"))
    row = {
        "id": environment_key(repository_id, uuid),
        "source": source,
        "repository_id": repository_id,
        "uuid": uuid,
        "key": shared.text(obj.get("slug")),
        "name": shared.text(obj.get("name")),
        "type": kind.lower() if kind else None,
        "rank": shared.integer(rank, "environment rank"),
        "json": shared.json(obj),
    }
    return {"environments": [row]}


def deployment(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """A deployment: a release (a commit) to an environment, its state and result."""
    obj = shared.as_object(obj, "deployment")
    uuid = shared.need_uuid(obj, "deployment")
    env = shared.uuid(obj.get("environment"))
    if env is None:
        raise RowError("deployment has no environment uuid")
    state = obj.get("state") if isinstance(obj.get("state"), dict) else {}
    release = obj.get("release") if isinstance(obj.get("release"), dict) else {}
    commit = shared.text(shared.get(release, "commit", "hash"))
    rs: RowSet = {}
    row = {
        "id": f"{repository_id}/deployment/{uuid}",
        "source": source,
        "repository_id": repository_id,
        "environment_id": environment_key(repository_id, env),
        "uuid": uuid,
        "key": None,
        "sequence": None,
        "state": shared.text(state.get("name")),
        "result": shared.text(shared.get(state, "status", "name")),
        "commit_hash": commit,
        "commit_id": commit_key(repository_id, commit) if commit else None,
        "from_commit_hash": None,
        "pipeline_id": None,  # the pipelines engineer's key scheme; not in the list payload
        "release_name": shared.text(release.get("name")),
        "release_created_on": shared.time(release, "created_on", "deployment release"),
        "deployer_id": shared.ref_user(rs, state.get("deployer"), source),
        "started_on": shared.time(state, "start_date", "deployment"),
        "completed_on": shared.time(state, "completion_date", "deployment"),
        "updated_on": None,
        "json": shared.json(obj),
    }
    return shared.add(rs, "deployments", row)
