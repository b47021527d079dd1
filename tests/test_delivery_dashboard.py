"""The Delivery dashboard's charts show their reports' numbers, with and without filters.

The session's small Cloud mirror is copied, the world moves on (deployments, pipelines, pushes,
tasks, a fix release and a failure followed by a rollback) and is synced again; every chart
then runs the way datasette-dashboards and Datasette run it, and each number is computed again in
``delivery_expect`` from the simulator's world objects, with the report tests' computations.
"""

from __future__ import annotations

import re

import pytest
import reportrun
from datasette_dashboards import replace_opts_in_query
from delivery_expect import METRICS, PLOTTED, Expected, Period

from bbmirror.reports import FOLDER, ReportError, load_metadata
from bbmirror.reports.compose import compose

METADATA = load_metadata()
DASHBOARD = METADATA["plugins"]["datasette-dashboards"]["delivery"]
CHARTS = DASHBOARD["charts"]
QUERIES = METADATA["databases"]["bitbucket"]["queries"]
NAMED = re.compile(r"(?<!:):([a-z_]+)")


@pytest.fixture
def delivery(dora_mirror):
    return dora_mirror


def run(db: str, sql: str, params: dict[str, str]) -> list[dict]:
    """Run SQL the way Datasette does: every named parameter the page does not set is ''."""
    return reportrun.run(db, sql, **{name: params.get(name, "") for name in NAMED.findall(sql)})


def chart(db: str, name: str, period: Period) -> list[dict]:
    """A chart's rows the way datasette-dashboards fetches them for these filters."""
    given = {k: v for k, v in period.params().items() if v}
    return run(db, replace_opts_in_query(CHARTS[name]["query"], given), given)


def drawn(db: str, name: str, period: Period) -> dict[str, float]:
    """A drawn chart's points: month (YYYY-MM) or size label -> plotted value."""
    return {
        r["month"][:7] if "month" in r else r["size"]: r[PLOTTED[name]]
        for r in chart(db, name, period)
    }


def metric(value: float | None) -> object:
    return "–" if value is None else pytest.approx(value, abs=0.011)


def periods(world) -> dict[str, Period]:
    busiest = max(world.repositories.values(), key=lambda r: len(r.deploys.deployments))
    return {
        "all": Period(),
        "repository": Period(repository=busiest.full_name),
        "dates": Period(since="2025-01-01", until="2025-06-30"),
        "both": Period(repository=busiest.full_name, since="2025-03-15", until="2025-10-31"),
    }


@pytest.mark.parametrize("which", ["all", "repository", "dates", "both"])
def test_every_delivery_chart_shows_the_worlds_numbers(delivery, which):
    period = periods(delivery.world)[which]
    want = Expected(delivery.world, period)
    for name, value in want.metrics().items():
        [row] = chart(delivery.db, name, period)
        assert next(iter(row.values())) == metric(value), name
    for name, points in want.series().items():
        assert drawn(delivery.db, name, period) == pytest.approx(points, abs=0.011), name
    assert set(CHARTS) == set(METRICS) | set(PLOTTED)  # every chart is checked


def test_the_world_reaches_every_chart(delivery):
    want = Expected(delivery.world, Period())
    assert all(v is not None for v in want.metrics().values())
    for name, points in want.series().items():
        assert any(points.values()), name
    assert 0 < want.metrics()["failure-rate"] < 100


def by_report(db: str, name: str, period: Period, *columns: str) -> dict[str, tuple]:
    rows = run(db, QUERIES[name]["sql"], period.params())
    assert len({r["repository"] for r in rows}) <= 1
    return {r["month"]: tuple(r[c] for c in columns) for r in rows}


def test_one_repository_shows_its_reports_own_numbers(delivery):
    """With a repository chosen, a chart's month is the report's row: one number, one name."""
    for repo in delivery.world.repositories.values():
        period = Period(repository=repo.full_name)
        rows = {n: chart(delivery.db, n, period) for n in PLOTTED}
        shown = {n: {r["month"][:7]: r for r in rs} for n, rs in rows.items() if n != "pr-size"}
        assert {m: (r["deployments"],) for m, r in shown["deploy-frequency"].items()} == by_report(
            delivery.db, "dora_deployment_frequency", period, "deployments"
        )
        assert {m: (r["hours"], r["changes"]) for m, r in shown["lead-time"].items()} == by_report(
            delivery.db, "dora_lead_time", period, "median_hours", "changes"
        )
        failure = {
            m: (r["failure_rate"], r["failures"], r["deployments"])
            for m, r in shown["change-failure"].items()
        }
        assert failure == by_report(
            delivery.db,
            "dora_change_failure_rate",
            period,
            "failure_rate_percent",
            "failures",
            "deployments",
        )
        restore = by_report(delivery.db, "dora_time_to_restore", period, "median_hours", "restored")
        assert {m: (r["hours"], r["restored"]) for m, r in shown["restore-time"].items()} == {
            m: v for m, v in restore.items() if v[1]
        }
        tasks = by_report(
            delivery.db, "tasks_open_at_merge", period, "open_tasks", "merged_with_open_tasks"
        )
        assert {m: (r["tasks"], r["pullrequests"]) for m, r in shown["tasks-at-merge"].items()} == {
            m: v for m, v in tasks.items() if v[0]
        }


def test_the_filters_narrow_every_chart(delivery):
    world, db = delivery.world, delivery.db
    everything = {name: drawn(db, name, Period()) for name in PLOTTED}
    by_repo = [Period(repository=r.full_name) for r in world.repositories.values()]
    for name in ("deploy-frequency", "tasks-at-merge", "pr-size", "build-minutes"):
        total = sum(sum(drawn(db, name, p).values()) for p in by_repo)
        assert total == pytest.approx(sum(everything[name].values()), abs=0.05), name
    narrow = Period(since="2025-03-01", until="2025-03-31")
    for name in PLOTTED:
        if name != "pr-size":
            assert set(drawn(db, name, narrow)) <= {"2025-03"}, name
    nowhere = Period(repository="nobody/no-such-repository")
    assert [chart(db, name, nowhere)[0] for name in METRICS] == [
        {"n": 0},
        {"hours": "–"},
        {"pct": "–"},
        {"hours": "–"},
    ]
    for name in PLOTTED:  # nothing drawn (the size buckets stay, at zero)
        assert not any(drawn(db, name, nowhere).values()), name


def test_every_chart_runs_its_reports_sql():
    """A chart names its report, and every line of that report's SQL is in the chart's."""
    for name, spec in CHARTS.items():
        lines = QUERIES[spec["report"]]["sql"].splitlines()
        assert [line for line in lines if line not in spec["query"]] == [], name


def test_a_chart_composes_on_the_reports_last_select():
    sql = (
        "WITH RECURSIVE a AS (SELECT ')' AS x), -- (SELECT\nb AS (SELECT x FROM a)\nSELECT * FROM b"
    )
    assert compose(sql, "SELECT count(*) FROM report") == (
        "WITH RECURSIVE a AS (SELECT ')' AS x), -- (SELECT\nb AS (SELECT x FROM a),\n"
        "report AS (\nSELECT * FROM b\n)\nSELECT count(*) FROM report"
    )
    assert compose("SELECT 1 AS n", ", c AS (SELECT n FROM report) SELECT n FROM c") == (
        "WITH report AS (\nSELECT 1 AS n\n)\n, c AS (SELECT n FROM report) SELECT n FROM c"
    )


def test_a_chart_on_a_missing_report_is_refused(tmp_path):
    for path in FOLDER.iterdir():
        if path.suffix in (".sql", ".yaml"):
            (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "160-dora_deployment_frequency.sql").unlink()
    with pytest.raises(ReportError, match="dora_deployment_frequency"):
        load_metadata(folder=tmp_path)
