"""What each Delivery dashboard chart must show, computed in Python from its inputs.

The inputs are the delivery rows as stored (the test data of ``delivery_testdata`` on a branch
without the simulator's resources, the simulator's rows after) and the simulated world's pull
requests and commits; the dashboard's SQL is never reused. Definitions (as the charts state
them): production is an environment of type ``production``; lead time runs from a merged PR's
first commit to the first successful production deployment of its repository that deploys its
merge commit or completes after the merge; a deployment counts as a failed change when it ended
FAILED or ROLLED_BACK or one that did followed it within 24 h; time to restore runs from a failed
production deployment to the next successful one.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from delivery_testdata import merged_on, utc

FAILED = ("FAILED", "ROLLED_BACK")
TABLES = ("environments", "deployments", "pipelines", "pullrequest_files", "pullrequest_tasks")
BUCKETS = (("XS (< 10)", 10), ("S (10-49)", 50), ("M (50-249)", 250), ("L (250-999)", 1000))


@dataclass
class Period:
    """The dashboard's filters: a repository's full name and a date range (blank: all)."""

    repository: str = ""
    since: str = ""
    until: str = ""

    def holds(self, when: str) -> bool:
        day = utc(when).date().isoformat()
        return (not self.since or day >= self.since) and (not self.until or day <= self.until)

    def query(self) -> str:
        parts = {"repository": self.repository, "date_start": self.since, "date_end": self.until}
        return "&".join(f"{k}={v}" for k, v in parts.items() if v)


def stored(db: str) -> dict[str, list[dict]]:
    """The delivery tables' live rows, as plain dicts (the charts' inputs)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {
            t: [dict(r) for r in conn.execute(f"SELECT * FROM [{t}] WHERE deleted_at IS NULL")]
            for t in TABLES
        }
    finally:
        conn.close()


def month(when: str) -> str:
    return utc(when).strftime("%Y-%m")


def hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


class Expected:
    """The numbers the charts must show for a world, its delivery rows and a period."""

    def __init__(self, world, rows: dict[str, list[dict]], period: Period) -> None:
        self.world, self.rows, self.period = world, rows, period
        self.names = {r.uuid: r.full_name for r in world.repositories.values()}
        self.prs = {
            f"{repo.uuid}/pr/{pr.id}": (repo, pr)
            for repo in world.repositories.values()
            for pr in repo.pullrequests.values()
        }
        types = {e["id"]: e["type"] for e in rows["environments"]}
        self.prod = [  # completed production deployments of the chosen repository, any date
            d
            for d in rows["deployments"]
            if types.get(d["environment_id"]) == "production"
            and d["state"] == "COMPLETED"
            and d["completed_on"]
            and self.mine(d["repository_id"])
        ]

    def mine(self, repository_id: str) -> bool:
        return not self.period.repository or self.names.get(repository_id) == self.period.repository

    def successes(self) -> list[dict]:
        return [d for d in self.prod if d["result"] == "SUCCESSFUL"]

    def frequency(self) -> Counter:
        done = [d["completed_on"] for d in self.successes() if self.period.holds(d["completed_on"])]
        return Counter(month(when) for when in done)

    def lead_times(self) -> dict[str, list[float]]:
        by_month: dict[str, list[float]] = defaultdict(list)
        for repo, pr in self.prs.values():
            merged = merged_on(pr)
            if not merged or not self.mine(repo.uuid) or not pr.commit_hashes:
                continue
            first = min(utc(repo.commits[h].date) for h in pr.commit_hashes)
            hits = [
                utc(d["completed_on"])
                for d in self.successes()
                if d["repository_id"] == repo.uuid
                and (
                    (d["commit_hash"] or "").startswith(pr.merge_commit or "-")
                    or utc(d["completed_on"]) >= utc(merged)
                )
            ]
            if hits and self.period.holds(min(hits).isoformat()):
                by_month[min(hits).strftime("%Y-%m")].append(hours(first, min(hits)))
        return by_month

    def failures(self) -> dict[str, tuple[int, int]]:
        """Month -> (failed changes, completed production deployments)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for d in self.prod:
            if not self.period.holds(d["completed_on"]):
                continue
            end = utc(d["completed_on"])
            followed = any(
                f["repository_id"] == d["repository_id"]
                and f["result"] in FAILED
                and end < utc(f["completed_on"]) <= end + timedelta(hours=24)
                for f in self.prod
            )
            counts[month(d["completed_on"])][0] += d["result"] in FAILED or followed
            counts[month(d["completed_on"])][1] += 1
        return {m: (failed, total) for m, (failed, total) in counts.items()}

    def restores(self) -> dict[str, list[float]]:
        by_month: dict[str, list[float]] = defaultdict(list)
        for f in self.prod:
            if f["result"] not in FAILED or not self.period.holds(f["completed_on"]):
                continue
            later = [
                utc(s["completed_on"])
                for s in self.successes()
                if s["repository_id"] == f["repository_id"]
                and utc(s["completed_on"]) > utc(f["completed_on"])
            ]
            if later:
                by_month[month(f["completed_on"])].append(hours(utc(f["completed_on"]), min(later)))
        return by_month

    def sizes(self) -> dict[str, int]:
        lines: Counter = Counter()
        for f in self.rows["pullrequest_files"]:
            repo, pr = self.prs[f["pullrequest_id"]]
            if self.mine(repo.uuid) and self.period.holds(pr.created_on):
                lines[f["pullrequest_id"]] += (f["lines_added"] or 0) + (f["lines_removed"] or 0)
        buckets = Counter({name: 0 for name, _ in BUCKETS} | {"XL (1000+)": 0})
        for total in lines.values():
            buckets[next((name for name, top in BUCKETS if total < top), "XL (1000+)")] += 1
        return dict(buckets)

    def tasks_open_at_merge(self) -> Counter:
        counts: Counter = Counter()
        for t in self.rows["pullrequest_tasks"]:
            repo, pr = self.prs[t["pullrequest_id"]]
            merged = merged_on(pr)
            if not merged or not self.mine(repo.uuid) or not self.period.holds(merged):
                continue
            resolved = t["resolved_on"]
            if utc(t["created_on"]) < utc(merged) and (not resolved or utc(resolved) > utc(merged)):
                counts[month(merged)] += 1
        return counts

    def pipelines(self) -> list[dict]:
        return [
            p
            for p in self.rows["pipelines"]
            if self.mine(p["repository_id"]) and self.period.holds(p["created_on"])
        ]

    def pipeline_success(self) -> dict[str, float]:
        done: dict[str, list[bool]] = defaultdict(list)
        for p in self.pipelines():
            if p["state"] == "COMPLETED":
                done[month(p["created_on"])].append(p["result"] == "SUCCESSFUL")
        return {m: 100 * sum(ok) / len(ok) for m, ok in done.items()}

    def build_minutes(self) -> dict[str, float]:
        seconds: Counter = Counter()
        for p in self.pipelines():
            seconds[month(p["created_on"])] += p["build_seconds_used"] or 0
        return {m: s / 60 for m, s in seconds.items()}

    def metrics(self) -> dict[str, float | int | None]:
        """The four numbers at the top: count, median lead, failure rate %, median restore."""
        leads = [h for values in self.lead_times().values() for h in values]
        restores = [h for values in self.restores().values() for h in values]
        failed = sum(f for f, _ in self.failures().values())
        total = sum(t for _, t in self.failures().values())
        return {
            "deployments": sum(self.frequency().values()),
            "lead-median": statistics.median(leads) if leads else None,
            "failure-rate": 100 * failed / total if total else None,
            "restore-median": statistics.median(restores) if restores else None,
        }

    def series(self) -> dict[str, dict[str, float]]:
        """Each drawn chart's points: month (YYYY-MM) or size bucket -> the plotted value."""
        leads, restores = self.lead_times(), self.restores()
        return {
            "deploy-frequency": dict(self.frequency()),
            "lead-time": {m: statistics.median(v) for m, v in leads.items()},
            "change-failure": {m: 100 * f / t for m, (f, t) in self.failures().items()},
            "restore-time": {m: statistics.median(v) for m, v in restores.items()},
            "pr-size": self.sizes(),
            "tasks-at-merge": dict(self.tasks_open_at_merge()),
            "pipeline-success": self.pipeline_success(),
            "build-minutes": self.build_minutes(),
        }


# The value each drawn chart plots (its y field), by chart name.
PLOTTED = {
    "deploy-frequency": "deployments",
    "lead-time": "hours",
    "change-failure": "failure_rate",
    "restore-time": "hours",
    "pr-size": "prs",
    "tasks-at-merge": "tasks",
    "pipeline-success": "success_rate",
    "build-minutes": "minutes",
}
