"""The simulator's Bitbucket Pipelines runs and their steps (plain dataclasses, no HTTP).

Kept apart from ``world.py`` (which holds them on ``Repository.pipelines``) so the generation,
rendering and mutation of pipelines (``pipelines.py``, ``pipelines_api.py``) stay in their own
modules. States and results use the API's names (reference bitbucket-cloud.md §3.20).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PIPELINE_STATES = ("PENDING", "IN_PROGRESS", "COMPLETED")
PIPELINE_RESULTS = ("SUCCESSFUL", "FAILED", "ERROR", "STOPPED", "EXPIRED")
STEP_RESULTS = ("SUCCESSFUL", "FAILED", "ERROR", "STOPPED", "NOT_RUN", "EXPIRED")


@dataclass
class PipelineStep:
    """One step of a run: PENDING, READY, IN_PROGRESS or COMPLETED (with a result)."""

    uuid: str
    name: str
    state: str
    result: str | None = None
    started_on: str | None = None
    completed_on: str | None = None
    build_seconds_used: int = 0


@dataclass
class Pipeline:
    """One run. ``target``: branch, tag or pullrequest (a ref target or a PR target)."""

    uuid: str
    build_number: int
    target: str
    ref_name: str | None  # the branch or tag; a PR target's source branch
    commit: str
    trigger: str  # PUSH | MANUAL
    creator_uuid: str | None
    state: str  # PIPELINE_STATES
    created_on: str
    result: str | None = None  # once COMPLETED: PIPELINE_RESULTS
    completed_on: str | None = None
    build_seconds_used: int = 0
    pullrequest_id: int | None = None
    destination: str | None = None  # a PR target's destination branch
    destination_commit: str | None = None
    steps: list[PipelineStep] = field(default_factory=list)
