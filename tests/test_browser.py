"""A real browser on a served mirror: pages render, charts draw, the console stays clean.

Headless Debian chromium through Selenium and /usr/bin/chromedriver (no browser downloads), on a
real uvicorn serving `make_datasette` on a loopback port. Screenshots go to
test-output/browser/ for a person to look at. Everything the pages load, vega included, comes
from the installed packages: nothing is fetched from the internet.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from mirror import Harness
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bbmirror.serve import bind, load_metadata, make_datasette
from bbmirror.simulator.cloud.generate import generate

pytestmark = pytest.mark.slow  # starts a browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "browser"
WAIT = 30
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1800",
)
DASHBOARDS = load_metadata()["plugins"]["datasette-dashboards"]


@contextlib.contextmanager
def served(db: Path) -> Iterator[str]:
    """`make_datasette(db)` on a real uvicorn on a free loopback port."""
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(make_datasette(db).app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "Datasette did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """Headless chromium with a fresh profile, its console log kept for `visit`."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="bbmirror-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def browsing(db: Path) -> Iterator[tuple[webdriver.Chrome, str]]:
    """Headless chromium and the URL of `db` served."""
    with served(db) as url, chromium() as driver:
        yield driver, url


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    world = generate(3, "small")
    db = tmp_path_factory.mktemp("browser") / "bitbucket.db"
    Harness(world, str(db)).sync()
    with browsing(db) as (driver, url):
        yield driver, url, world


def visit(driver, url: str, shot: str, ready) -> list[dict]:
    """Open a page, wait until `ready(driver)` holds, screenshot it; return console problems."""
    driver.get_log("browser")  # drop anything left from the previous page
    driver.get(url)
    WebDriverWait(driver, WAIT).until(ready)
    time.sleep(0.3)  # let the last paint land before the screenshot
    driver.save_screenshot(str(SHOTS / f"{shot}.png"))
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def has_rows(driver) -> list:
    """The rows of the page's result table (none yet: the page is not ready)."""
    return driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")


def test_index_table_search_and_report_pages(site):
    driver, url, world = site
    repo = next(r for r in world.repositories.values() if r.pullrequests)
    pr = max(repo.pullrequests.values(), key=lambda p: len(p.title))
    word = max(pr.title.split(), key=len)

    errors = visit(driver, f"{url}/", "index", lambda d: "Bitbucket mirror" in text(d))
    assert not errors and "dashboards" in text(driver)

    errors = visit(driver, f"{url}/bitbucket", "database", lambda d: "reports" in d.page_source)
    assert not errors
    assert "Pull request cycle time by month" in text(driver)

    errors = visit(
        driver,
        f"{url}/bitbucket/pullrequests",
        "table-pullrequests",
        has_rows,
    )
    assert not errors
    body = text(driver)
    assert "sorted by updated_on descending" in body and repo.full_name in body  # label column
    assert driver.find_elements(By.CSS_SELECTOR, ".facet-info")  # default facets

    errors = visit(
        driver,
        f"{url}/-/search?q={word}",
        "search-all",
        lambda d: d.find_elements(By.CSS_SELECTOR, "#search-all-results table"),
    )
    assert not errors and pr.title in text(driver)
    headers = {th.text for th in driver.find_elements(By.CSS_SELECTOR, "#search-all-results th")}
    assert {"title", "repository_id"} <= headers and "json" not in headers  # compact results

    errors = visit(
        driver,
        f"{url}/bitbucket/pr_cycle_time?repository={repo.full_name}",
        "report-cycle-time",
        has_rows,
    )
    assert not errors
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table th")]
    assert {"month", "merged", "median_hours", "p90_hours"} <= set(headers)


@pytest.mark.parametrize("slug", sorted(DASHBOARDS))
def test_dashboards_draw_every_chart(site, slug):
    driver, url, _ = site
    charts = DASHBOARDS[slug]["charts"]
    drawn = [n for n, c in charts.items() if c["library"] == "vega-lite"]
    metrics = [n for n, c in charts.items() if c["library"] == "metric"]
    tables = [n for n, c in charts.items() if c["library"] == "table"]

    def ready(d) -> bool:
        vega = all(
            d.find_elements(By.CSS_SELECTOR, f"#chart-{n} canvas, #chart-{n} svg") for n in drawn
        )
        numbers = all(d.find_element(By.ID, f"chart-{n}").text.strip() for n in metrics)
        rows = all(d.find_elements(By.CSS_SELECTOR, f"#chart-{n} table tr") for n in tables)
        return vega and numbers and rows

    errors = visit(driver, f"{url}/-/dashboards/{slug}", f"dashboard-{slug}", ready)
    assert not errors
    assert DASHBOARDS[slug]["title"] in text(driver)
    for name in metrics:
        value = driver.find_element(By.ID, f"chart-{name}").text.strip()
        assert value and value != "null" and "undefined" not in value, name
    scripts = [s.get_attribute("src") for s in driver.find_elements(By.TAG_NAME, "script")]
    assert all(src.startswith(url) for src in scripts if src)  # vega is served locally


def test_dashboard_filters_narrow_the_charts(site):
    driver, url, world = site
    repo = max(world.repositories.values(), key=lambda r: len(r.pullrequests))
    want = sum(pr.state == "OPEN" for pr in repo.pullrequests.values())

    def ready(d) -> bool:
        return d.find_element(By.ID, "chart-open-prs").text.strip() and d.find_elements(
            By.CSS_SELECTOR, "#chart-throughput canvas, #chart-throughput svg"
        )

    page = f"{url}/-/dashboards/engineering?repository={repo.full_name}&date_start=2025-01-01"
    errors = visit(driver, page, "dashboard-engineering-filtered", ready)
    assert not errors
    assert driver.find_element(By.ID, "chart-open-prs").text.strip() == str(want)
    chosen = driver.find_element(By.CSS_SELECTOR, "#repository option:checked").text
    assert chosen == repo.full_name
