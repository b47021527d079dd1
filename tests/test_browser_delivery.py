"""A real browser draws the Delivery dashboard: every chart, its numbers, and its filters.

The session's small Cloud mirror is copied and synced again after activity (as in
test_delivery_dashboard); the page is then read the way a person reads it: the four numbers at
the top, and each drawn chart's marks through the labels vega writes on them (the charts render
as SVG). Every value is compared with what ``delivery_expect`` computes from the simulator's
world objects, unfiltered and filtered.
"""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from delivery_expect import PLOTTED, Expected, Period
from selenium.webdriver.common.by import By
from test_browser import DASHBOARDS, browsing, text, visit
from test_deploys_reports import fix_forward

from bbmirror.simulator.cloud.mutate import random_activity

pytestmark = pytest.mark.slow  # starts a browser

CHARTS = DASHBOARDS["delivery"]["charts"]
METRICS = [n for n, c in CHARTS.items() if c["library"] == "metric"]
MARKS = "[aria-roledescription=bar], [aria-roledescription=point]"


@pytest.fixture(scope="module")
def site(tmp_path_factory, mirrored):
    db = tmp_path_factory.mktemp("browser-delivery") / "bitbucket.db"
    harness = mirrored("cloud", "small").copy(str(db))
    random_activity(harness.world, 30, random.Random(15))
    fix_forward(harness.world)
    harness.sync_equal()
    with browsing(db) as (driver, url):
        yield driver, url, harness.world


def number(shown: str) -> float | str:
    """A number as the page shows it ('1,234.5 h', '18.2 %', '7'), or the '–' of no data."""
    value = shown.split(" ")[0].replace(",", "")
    return value if value == "–" else float(value)


def key(label: str) -> str:
    """A mark's x value: 'Feb 2025' -> '2025-02'; a size bucket stays as it is."""
    try:
        return datetime.strptime(label, "%b %Y").strftime("%Y-%m")
    except ValueError:
        return label


def points(driver, name: str) -> dict[str, float]:
    """A chart's marks, read from their aria labels ('Month: Feb 2025; Deployments: 4')."""
    found = {}
    for mark in driver.find_elements(By.CSS_SELECTOR, f"#chart-{name} svg :is({MARKS})"):
        x, y = (part.partition(": ")[2] for part in mark.get_attribute("aria-label").split("; "))
        found[key(x)] = number(y)
    return found


@pytest.mark.parametrize("which", ["all", "filtered"])
def test_every_delivery_chart_is_drawn_with_its_numbers(site, which):
    driver, url, world = site
    busiest = max(world.repositories.values(), key=lambda r: len(r.deploys.deployments)).full_name
    period = Period() if which == "all" else Period(busiest, "2025-02-01", "2025-09-30")
    want = Expected(world, period)
    series = want.series()

    def ready(d) -> bool:
        numbers = all(d.find_element(By.ID, f"chart-{n}").text.strip() for n in METRICS)
        marks = all(
            len(d.find_elements(By.CSS_SELECTOR, f"#chart-{n} svg :is({MARKS})")) == len(series[n])
            for n in PLOTTED
        )
        return numbers and marks

    page = f"{url}/-/dashboards/delivery?{period.query()}"
    errors = visit(driver, page, f"dashboard-delivery-{which}", ready)
    assert not errors
    assert "Delivery" in text(driver) and "a rollback or a fix within 24 h" in text(driver)
    for name, value in want.metrics().items():
        shown = number(driver.find_element(By.ID, f"chart-{name}").text.strip())
        assert shown == ("–" if value is None else pytest.approx(value, abs=0.051)), name
    for name, values in series.items():
        assert values or which == "filtered", name  # the data reaches every chart
        assert points(driver, name) == pytest.approx(values, abs=0.051), name
    if which == "filtered":
        months = {m for n in PLOTTED if n != "pr-size" for m in points(driver, n)}
        assert months and all("2025-02" <= m <= "2025-09" for m in months)
        assert driver.find_element(By.CSS_SELECTOR, "#repository option:checked").text == busiest
        assert driver.find_element(By.ID, "since").get_attribute("value") == period.since
        everything = Expected(world, Period()).metrics()["deployments"]
        assert 0 < want.metrics()["deployments"] < everything  # the filters narrowed it
