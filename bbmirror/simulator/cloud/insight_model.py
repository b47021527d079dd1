"""Code insights in the simulated Cloud world: a commit's reports and their annotations
(simulator/cloud/insights.py generates, serves and mutates them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Annotation:
    uuid: str
    external_id: str
    annotation_type: str
    path: str
    line: int
    summary: str
    severity: str
    result: str
    created_on: str
    updated_on: str
    details: str = ""


@dataclass
class InsightReport:
    uuid: str
    external_id: str
    title: str
    report_type: str
    reporter: str
    result: str  # PASSED | FAILED | PENDING
    created_on: str
    updated_on: str
    details: str = ""
    link: str = ""
    data: list[dict] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
