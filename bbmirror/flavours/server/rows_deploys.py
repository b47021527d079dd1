"""Data Center deployments -> the shared ``deployments`` and ``environments`` rows.

A Data Center deployment (reference bitbucket-server.md §2.11: ``GET {P}/commits/{commitId}/
deployments?key&environmentKey&deploymentSequenceNumber``) is one object: ``key``,
``deploymentSequenceNumber``, ``state``, ``environment`` {key, displayName, type},
``fromCommit``/``toCommit``, ``lastUpdated`` (epoch ms). No plan step reads it: the endpoint
answers one deployment whose key, environment key and sequence number must be known already,
so a commit's deployments cannot be listed (README, Limits). The rows are ready for a source
that knows them. States map onto Cloud's columns (store/tables_v5.py): SUCCESSFUL, FAILED,
ROLLED_BACK and CANCELLED are COMPLETED with that result; IN_PROGRESS, PENDING and UNKNOWN are
states without a result. Environments exist only as deployments name them: keyed
``{repository_id}/environment/{key}``, type DEVELOPMENT, TESTING, STAGING, PRODUCTION as
development, test, staging, production.
"""

from __future__ import annotations

from bbmirror import rows as shared
from bbmirror.flavours.server.rows import _ms
from bbmirror.rows import RowError, RowSet, commit_key

COMPLETED = {"SUCCESSFUL", "FAILED", "ROLLED_BACK", "CANCELLED"}
TYPES = {"TESTING": "test"}


def state_and_result(state: str | None) -> tuple[str | None, str | None]:
    """A Data Center deployment state → (state, result) in Cloud's terms."""
    if state in COMPLETED:
        return "COMPLETED", state
    return state, None


def deployment(obj: dict, *, source: str, repository_id: str) -> RowSet:
    """One deployment and the environment it names."""
    obj = shared.as_object(obj, "deployment")
    key, env = shared.text(obj.get("key")), obj.get("environment")
    env_key = shared.text(shared.get(env, "key")) if isinstance(env, dict) else None
    sequence = shared.integer(obj.get("deploymentSequenceNumber"), "deploymentSequenceNumber")
    if not key or not env_key or sequence is None:
        raise RowError("deployment lacks key, environment key or deploymentSequenceNumber")
    env_id = f"{repository_id}/environment/{env_key}"
    kind = shared.text(shared.get(env, "type"))
    commit = shared.text(shared.get(obj, "toCommit", "id"))
    state, result = state_and_result(shared.text(obj.get("state")))
    updated = _ms(obj, "lastUpdated", "deployment")
    rs: RowSet = {}
    shared.add(
        rs,
        "environments",
        {
            "id": env_id,
            "source": source,
            "repository_id": repository_id,
            "uuid": None,
            "key": env_key,
            "name": shared.text(shared.get(env, "displayName")),
            "type": TYPES.get(kind.upper(), kind.lower()) if kind else None,
            "rank": None,
            "json": shared.json(env),
        },
    )
    shared.add(
        rs,
        "deployments",
        {
            "id": f"{repository_id}/deployment/{key}/{env_key}/{sequence}",
            "source": source,
            "repository_id": repository_id,
            "environment_id": env_id,
            "uuid": None,
            "key": key,
            "sequence": sequence,
            "state": state,
            "result": result,
            "commit_hash": commit,
            "commit_id": commit_key(repository_id, commit) if commit else None,
            "from_commit_hash": shared.text(shared.get(obj, "fromCommit", "id")),
            "pipeline_id": None,
            "release_name": shared.text(obj.get("displayName")),
            "release_created_on": None,
            "deployer_id": None,
            "started_on": None,
            "completed_on": updated if state == "COMPLETED" else None,
            "updated_on": updated,
            "json": shared.json(obj),
        },
    )
    return rs
