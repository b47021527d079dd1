"""What each Delivery dashboard chart must show, computed from the simulator's world objects.

Each chart computes what its report computes (bbmirror/reports/compose.py), summed over the
chosen repositories or as one median over all of them; so the figures here are the report
tests' own world computations (test_deploys_reports, test_pipeline_reports,
test_prsize_reports, test_tasks_report), gathered over repositories and months. The database
and the charts' SQL are never read.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from test_deploys_reports import incidents, judged, lead_time_changes, production, ts
from test_pipeline_reports import completed
from test_prsize_reports import bucket, size
from test_reports import merged_on

SIZES = {
    "XS": "XS (< 10)",
    "S": "S (10-49)",
    "M": "M (50-249)",
    "L": "L (250-999)",
    "XL": "XL (1000+)",
    "unknown": "unknown",
}
METRICS = ("deployments", "lead-median", "failure-rate", "restore-median")
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


@dataclass
class Period:
    """The dashboard's filters: a repository's full name and a date range (blank: all)."""

    repository: str = ""
    since: str = ""
    until: str = ""

    def holds(self, when: str) -> bool:
        day = ts(when).date().isoformat()
        return (not self.since or day >= self.since) and (not self.until or day <= self.until)

    def params(self) -> dict[str, str]:
        return {"repository": self.repository, "since": self.since, "until": self.until}

    def query(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.params().items() if v)


def month(when: str) -> str:
    return ts(when).strftime("%Y-%m")


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class Expected:
    """The numbers the charts must show for a world and a period."""

    def __init__(self, world, period: Period) -> None:
        self.world, self.period = world, period
        self.repos = [
            r
            for r in world.repositories.values()
            if not period.repository or r.full_name == period.repository
        ]
        self.names = {r.full_name for r in self.repos}

    def frequency(self) -> Counter:
        return Counter(
            month(x.completion_date)
            for repo in self.repos
            for x in production(repo, ("SUCCESSFUL",))
            if self.period.holds(x.completion_date)
        )

    def lead_times(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for repo in self.repos:
            for shipped, lead in lead_time_changes(repo):
                if self.period.holds(shipped):
                    out[month(shipped)].append(lead)
        return out

    def failures(self) -> dict[str, tuple[int, int]]:
        """Month -> (failures, counted deployments), the window at its default 24 h."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for repo in self.repos:
            for completed_on, failed in judged(repo, timedelta(hours=24)):
                if self.period.holds(completed_on):
                    out[month(completed_on)][0] += failed
                    out[month(completed_on)][1] += 1
        return {m: (f, n) for m, (f, n) in out.items()}

    def restores(self) -> dict[str, list[float]]:
        """Month of the failure -> hours of the restored incidents (open ones left out)."""
        out: dict[str, list[float]] = defaultdict(list)
        for repo in self.repos:
            for failed_on, restored in incidents(repo):
                if self.period.holds(failed_on) and restored is not None:
                    out[month(failed_on)].append(restored)
        return out

    def sizes(self) -> dict[str, int]:
        counts = Counter({label: 0 for label in SIZES.values()})
        for repo in self.repos:
            for pr in repo.pullrequests.values():
                if self.period.holds(pr.created_on):
                    counts[SIZES[bucket(size(repo, pr)[1])]] += 1
        return dict(counts)

    def tasks_open_at_merge(self) -> Counter:
        out: Counter = Counter()
        for repo in self.repos:
            for pr in repo.pullrequests.values():
                merged = merged_on(pr)
                if not merged or not self.period.holds(merged):
                    continue
                out[month(merged)] += sum(
                    ts(t.created_on) <= ts(merged)
                    and (t.resolved_on is None or ts(t.resolved_on) > ts(merged))
                    for t in pr.tasks
                )
        return +out  # months with no task open at merge are not drawn

    def runs(self) -> dict[str, list]:
        out: dict[str, list] = defaultdict(list)
        for repo, run in completed(self.world):
            if repo.full_name in self.names and self.period.holds(run.created_on):
                out[month(run.created_on)].append(run)
        return out

    def metrics(self) -> dict[str, float | int | None]:
        """The four numbers at the top: count, median lead, failure rate %, median restore."""
        failures = self.failures().values()
        failed, total = sum(f for f, _ in failures), sum(n for _, n in failures)
        return {
            "deployments": sum(self.frequency().values()),
            "lead-median": rounded(median([h for v in self.lead_times().values() for h in v]), 2),
            "failure-rate": round(100 * failed / total, 1) if total else None,
            "restore-median": rounded(median([h for v in self.restores().values() for h in v]), 2),
        }

    def series(self) -> dict[str, dict[str, float]]:
        """Each drawn chart's points: month (YYYY-MM) or size label -> the plotted value,
        rounded as the chart rounds it (rates to 0.1, hours and minutes to 0.01)."""
        runs = self.runs()
        return {
            "deploy-frequency": dict(self.frequency()),
            "lead-time": {m: round(statistics.median(v), 2) for m, v in self.lead_times().items()},
            "change-failure": {m: round(100 * f / n, 1) for m, (f, n) in self.failures().items()},
            "restore-time": {m: round(statistics.median(v), 2) for m, v in self.restores().items()},
            "pr-size": self.sizes(),
            "tasks-at-merge": dict(self.tasks_open_at_merge()),
            "pipeline-success": {
                m: round(100 * sum(r.result == "SUCCESSFUL" for r in v) / len(v), 1)
                for m, v in runs.items()
            },
            "build-minutes": {
                m: round(sum(r.build_seconds_used for r in v) / 60, 2) for m, v in runs.items()
            },
        }
