"""The Delivery dashboard's charts show what their inputs say, with and without filters.

A small Cloud mirror gets delivery test data (``delivery_testdata``: the simulator does not
serve these resources on this branch); every chart then runs the way datasette-dashboards runs
it, and each number is computed again in ``delivery_expect`` from the rows and the world.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
from datasette_dashboards import replace_opts_in_query
from delivery_expect import PLOTTED, Expected, Period, stored
from delivery_testdata import GROUPS, fill, rows

from bbmirror.reports import load_metadata

DASHBOARD = load_metadata()["plugins"]["datasette-dashboards"]["delivery"]
CHARTS = DASHBOARD["charts"]
METRICS = ("deployments", "lead-median", "failure-rate", "restore-median")


@pytest.fixture(scope="module")
def delivery(tmp_path_factory, mirrored):
    """The session's small Cloud mirror, copied, with delivery test data."""
    db = str(tmp_path_factory.mktemp("delivery") / "bitbucket.db")
    harness = mirrored("cloud").copy(db)
    written = fill(db, harness.world)
    return SimpleNamespace(world=harness.world, db=db, rows=stored(db), written=written)


def chart(db: str, name: str, period: Period) -> list[dict]:
    """A chart's rows the way datasette-dashboards fetches them for these filters."""
    spec = CHARTS[name]
    given = {"repository": period.repository, "date_start": period.since, "date_end": period.until}
    used = {k: v for k, v in given.items() if v and f":{k}" in spec["query"]}
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(replace_opts_in_query(spec["query"], used), used)]
    finally:
        conn.close()


def drawn(db: str, name: str, period: Period) -> dict[str, float]:
    """A drawn chart's points: month (YYYY-MM) or size bucket -> plotted value."""
    return {
        r["month"][:7] if "month" in r else r["size"]: r[PLOTTED[name]]
        for r in chart(db, name, period)
    }


def approx_points(want: dict[str, float]) -> object:
    return pytest.approx(want, abs=0.051)  # the charts round to 0.1 (rates, minutes) or 0.01


def metric(value: float | None) -> object:
    return "–" if value is None else pytest.approx(value, abs=0.051)


def periods(world) -> dict[str, Period]:
    names = sorted(r.full_name for r in world.repositories.values())
    busiest = max(world.repositories.values(), key=lambda r: len(r.pullrequests)).full_name
    return {
        "all": Period(),
        "repository": Period(repository=busiest),
        "dates": Period(since="2025-01-01", until="2025-06-30"),
        "both": Period(repository=busiest, since="2025-03-15", until="2025-10-31"),
        "fourth": Period(repository=names[3]),  # the test data deploys it to staging only
    }


@pytest.mark.parametrize("which", ["all", "repository", "dates", "both", "fourth"])
def test_every_delivery_chart_shows_what_its_inputs_say(delivery, which):
    period = periods(delivery.world)[which]
    want = Expected(delivery.world, delivery.rows, period)
    for name, value in want.metrics().items():
        [row] = chart(delivery.db, name, period)
        assert next(iter(row.values())) == metric(value), name
    for name, points in want.series().items():
        assert drawn(delivery.db, name, period) == approx_points(points), name
    assert set(CHARTS) == set(METRICS) | set(PLOTTED)  # every chart is checked


def test_the_filters_narrow_every_chart(delivery):
    world, db = delivery.world, delivery.db
    everything = {name: drawn(db, name, Period()) for name in PLOTTED}
    assert all(everything.values())  # the test data reaches every chart
    by_repo = [Period(repository=r.full_name) for r in world.repositories.values()]
    for name in ("deploy-frequency", "tasks-at-merge", "pr-size"):  # counts add up
        total = sum(sum(drawn(db, name, p).values()) for p in by_repo)
        assert total == sum(everything[name].values()), name
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


def test_the_test_data_is_deterministic_and_never_mixes_with_real_rows(delivery):
    made = rows(delivery.world)
    assert made == rows(delivery.world)
    assert all(r["id"].startswith("testdata/") for table in made.values() for r in table)
    for group in GROUPS:  # a group is filled whole (only where the simulator left it empty)
        assert len({t in delivery.written for t in group}) == 1, group
    for table, count in delivery.written.items():
        assert count == len(made[table]) > 0, table
    assert fill(delivery.db, delivery.world) == {}  # tables with rows are left alone
