"""The Pipelines endpoints: ``/pipelines/``, ``/pipelines/{uuid}``, ``/pipelines/{uuid}/steps/``.

As the field answers them (reference bitbucket-cloud.md §3.20; shapes from the 2.0 spec's
``pipeline`` and ``pipeline_step`` schemas and public client fixtures, e.g. the
``pipeline_state_completed_successful`` result types):

- The list is in ``created_on`` order, oldest first, unless ``sort`` says otherwise (BSERV-11032
  and client reports); ``sort`` takes ``created_on``, ``creator.uuid`` and
  ``run_creation_date`` (each with ``-``), anything else is a 400 ``Invalid sort attribute``.
- Pages carry ``page``, ``pagelen`` (default 10, at most 100) and ``size`` but no ``next``
  link (BCLOUD-20639, confirmed by Atlassian): a client pages by number up to ``size``.
- A repository that never ran a pipeline answers an empty page (``size`` 0), not a 404.
- Lists need the ``pipeline`` scope (scopes.py); a private repository the caller can't see is
  a 404 as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from bbmirror.simulator.cloud import render
from bbmirror.simulator.cloud.call import DEFAULT_PAGELEN, MAX_PAGELEN, ApiError, Call, Doc
from bbmirror.simulator.cloud.pipeline_model import Pipeline, PipelineStep
from bbmirror.simulator.cloud.world import Repository
from bbmirror.simulator.common.clock import US, to_us

SORTS = ("created_on", "creator.uuid", "run_creation_date")


def _state(prefix: str, state: str, result: str | None, stage: str | None = None) -> Doc:
    doc: Doc = {"name": state, "type": f"{prefix}_{state.lower()}"}
    if result:
        doc["result"] = {"name": result, "type": f"{prefix}_completed_{result.lower()}"}
    if stage:
        doc["stage"] = {"name": stage, "type": f"{prefix}_in_progress_{stage.lower()}"}
    return doc


def _commit(c: Call, repo: Repository, sha: str) -> Doc:
    api = f"{c.base}/repositories/{repo.full_name}/commit/{sha}"
    return {"type": "commit", "hash": sha, "links": {"self": {"href": api}}}


def _target(c: Call, repo: Repository, run: Pipeline) -> Doc:
    if run.target == "pullrequest":
        pr = repo.pullrequests.get(run.pullrequest_id or 0)
        return {
            "type": "pipeline_pullrequest_target",
            "source": run.ref_name,
            "destination": run.destination,
            "destination_commit": {"type": "commit", "hash": run.destination_commit},
            "commit": _commit(c, repo, run.commit),
            "pullrequest": {
                "type": "pullrequest",
                "id": run.pullrequest_id,
                "title": pr.title if pr else "",
                "links": {
                    "self": {
                        "href": f"{c.base}/repositories/{repo.full_name}/pullrequests/"
                        f"{run.pullrequest_id}"
                    }
                },
            },
            "selector": {"type": "pull-requests", "pattern": "**"},
        }
    pattern = run.ref_name if run.target == "branch" else "*"
    return {
        "type": "pipeline_ref_target",
        "ref_type": run.target,
        "ref_name": run.ref_name,
        "commit": _commit(c, repo, run.commit),
        "selector": {"type": "branches" if run.target == "branch" else "tags", "pattern": pattern},
    }


def pipeline(c: Call, repo: Repository, run: Pipeline) -> Doc:
    """A pipeline as the list and its own URL give it."""
    api = f"{c.base}/repositories/{repo.full_name}/pipelines/{quote(run.uuid)}"
    stage = "RUNNING" if run.state == "IN_PROGRESS" else None
    doc: Doc = {
        "type": "pipeline",
        "uuid": run.uuid,
        "build_number": run.build_number,
        "run_number": 1,
        "creator": render.user_by_uuid(c.world, run.creator_uuid, c.base, c.html),
        "repository": render.repository(c.world, repo, c.base, condensed=True, html=c.html),
        "target": _target(c, repo, run),
        "trigger": {"name": run.trigger, "type": f"pipeline_trigger_{run.trigger.lower()}"},
        "state": _state("pipeline_state", run.state, run.result, stage),
        "created_on": run.created_on,
        "build_seconds_used": run.build_seconds_used,
        "links": {"self": {"href": api}, "steps": {"href": f"{api}/steps/"}},
    }
    if run.completed_on:
        doc["completed_on"] = run.completed_on
        doc["duration_in_seconds"] = _seconds(run.created_on, run.completed_on)
    return doc


def step(c: Call, repo: Repository, run: Pipeline, s: PipelineStep) -> Doc:
    """A step (not its log)."""
    doc: Doc = {
        "type": "pipeline_step",
        "uuid": s.uuid,
        "name": s.name,
        "pipeline": {"type": "pipeline", "uuid": run.uuid},
        "image": {"name": "atlassian/default-image:4"},
        "setup_commands": [],
        "script_commands": [{"name": s.name, "command": f"make {s.name.split()[0].lower()}"}],
        "state": _state("pipeline_step_state", s.state, s.result),
        "build_seconds_used": s.build_seconds_used,
    }
    if s.started_on:
        doc["started_on"] = s.started_on
    if s.completed_on:
        doc["completed_on"] = s.completed_on
        if s.started_on:
            doc["duration_in_seconds"] = _seconds(s.started_on, s.completed_on)
    return doc


def _seconds(start: str, end: str) -> int:
    return max(0, (to_us(end) - to_us(start)) // US)


def _numbered_page(c: Call, objs: Sequence[Any], make: Callable[[Any], Doc]) -> Response:
    """A page by number: ``page``, ``pagelen``, ``size`` and values, no ``next`` link."""
    pagelen = min(c._int("pagelen", DEFAULT_PAGELEN, "Invalid pagelen"), MAX_PAGELEN)
    page = c._int("page", 1, "Invalid page")
    start = (page - 1) * pagelen
    values = [make(o) for o in objs[start : start + pagelen]]
    return c.json({"page": page, "pagelen": pagelen, "size": len(objs), "values": values})


def pipelines(c: Call) -> Response:
    """``GET …/pipelines/``: oldest first unless sorted."""
    repo = c.repo()
    runs = list(repo.pipelines)
    sort = c.arg("sort")
    if sort:
        name = sort.lstrip("-")
        if name not in SORTS:
            raise ApiError(400, f"Invalid sort attribute provided '{name}'")
        if name == "creator.uuid":
            runs.sort(key=lambda r: r.creator_uuid or "")
        if sort.startswith("-"):
            runs.reverse()
    return _numbered_page(c, runs, lambda r: pipeline(c, repo, r))


def _find(c: Call) -> tuple[Repository, Pipeline]:
    repo = c.repo()
    key = c.params["puuid"]
    found = next((r for r in repo.pipelines if r.uuid == key), None)
    if found is None:
        raise ApiError(404, f"Pipeline {key} not found")
    return repo, found


def get_pipeline(c: Call) -> Response:
    repo, run = _find(c)
    return c.json(pipeline(c, repo, run))


def steps(c: Call) -> Response:
    """``GET …/pipelines/{uuid}/steps/``: in the order they run."""
    repo, run = _find(c)
    return _numbered_page(c, run.steps, lambda s: step(c, repo, run, s))
