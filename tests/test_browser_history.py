"""A real browser shows the history panel on a pull request's and an issue's row page."""

from __future__ import annotations

import pytest
from datasette.utils import tilde_encode
from selenium.webdriver.common.by import By
from test_browser import browsing, visit

from bbmirror.store import Store

pytestmark = pytest.mark.slow  # starts a browser

REPO = "{repo}"
DAY = "2026-01-0{}T00:00:00.000000+00:00".format


def _row(kind: str, title: str, day: int, **more) -> dict:
    key = f"{REPO}/{kind}/1"
    row = {"id": key, "source": "c", "repository_id": REPO, "number": 1, "json": "{}"}
    return {**row, "title": title, "updated_on": DAY(day), **more}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    db = tmp_path_factory.mktemp("browser-history") / "bitbucket.db"
    with Store.open(db) as store:
        repo = {"id": REPO, "source": "c", "full_name": "acme/api", "slug": "api", "json": "{}"}
        store.write({"repositories": [repo]})
        store.write({"pullrequests": [_row("pr", "draft <b>one</b>", 2, state="OPEN")]})
        store.write({"pullrequests": [_row("pr", "final", 4, state="MERGED")]})
        store.write({"issues": [_row("issue", "crash", 2, state="new")]})
        store.write({"issues": [_row("issue", "crash on start", 3, state="resolved")]})
    with browsing(db) as (driver, url):
        yield driver, url


def panel_rows(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "section.bbmirror-history tr")


@pytest.mark.parametrize(
    ("table", "kind", "line"),
    [
        ("pullrequests", "pr", 'title: "draft <b>one</b>" \u2192 "final"'),
        ("issues", "issue", 'state: "new" \u2192 "resolved"'),
    ],
)
def test_the_row_page_shows_each_version(browser, table, kind, line):
    driver, url = browser
    page = f"{url}/bitbucket/{table}/{tilde_encode(f'{REPO}/{kind}/1')}"
    errors = visit(driver, page, f"history-{table}", lambda d: len(panel_rows(d)) == 3)
    assert not errors
    panel = driver.find_element(By.CSS_SELECTOR, "section.bbmirror-history")
    assert "History (2 versions)" in panel.text
    assert line in panel.text
    newest = panel_rows(driver)[1].text  # newest first
    assert "update" in newest and "insert" in panel_rows(driver)[2].text
    assert not panel.find_elements(By.TAG_NAME, "b")  # values are text, never HTML
