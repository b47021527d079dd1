"""The corpus of real Bitbucket responses under tests/fixtures/real/ (sources in its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REAL = Path(__file__).parent / "fixtures" / "real"


def load(name: str) -> Any:
    return json.loads((REAL / name).read_text(encoding="utf-8"))


def values(name: str) -> list[dict]:
    return load(name)["values"]


def cloud() -> dict[str, list[dict]]:
    """Real Cloud objects by kind."""
    return {
        "repository": [load("cloud/repository.json"), *values("cloud/repositories_page.json")],
        "pullrequest": [load("cloud/pullrequest.json"), *values("cloud/pullrequests_page.json")],
        "comment": values("cloud/pullrequest_comments.json"),
        "activity": [load("cloud/activity_approval.json")],
        "commit": [load("cloud/commit.json")],
        "commit_status": [load("cloud/commit_status.json")],
        "branch": [load("cloud/branch.json")],
        "member": [load("cloud/workspace_member.json")],
    }


def server() -> dict[str, list[dict]]:
    """Real Data Center objects by kind."""
    activities = values("server/pullrequest_activities.json")
    return {
        "repository": [load("server/repository.json")],
        "project": [load("server/project.json")],
        "pullrequest": [
            load("server/pullrequest_draft.json"),
            load("server/pullrequest_iso_dates.json"),
        ],
        "commented": [a for a in activities if a["action"] == "COMMENTED"],
        "opened": [a for a in activities if a["action"] == "OPENED"],
        "comment": [a["comment"] for a in activities if "comment" in a],
        "commit": [load("server/commit.json")],
        "build": values("server/build_statuses.json"),
        "branch": values("server/branches.json"),
    }
