"""History in Datasette: the row page's panel and its JSON, the as-of and changes reports."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import httpx
import pytest
from datasette.app import Datasette
from datasette.utils import tilde_encode

from bbmirror.reports import FOLDER, ReportError, as_of, load_metadata
from bbmirror.store import Store
from bbmirror.store import history as h
from bbmirror.store.history_changes import report_sql

A, B = "{repo-a}", "{repo-b}"
DAY = "2026-01-0{}T00:00:00.000000+00:00".format


def _repo(rid: str, name: str) -> dict:
    return {"id": rid, "source": "c", "full_name": name, "slug": name.split("/")[1], "json": "{}"}


def _pr(rid: str, title: str, day: int, **more) -> dict:
    row = {"id": f"{rid}/pr/1", "source": "c", "repository_id": rid, "number": 1, "json": "{}"}
    return {**row, "title": title, "state": "OPEN", "updated_on": DAY(day), **more}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    db = tmp_path_factory.mktemp("hist") / "acme.db"
    with Store.open(db) as store:
        store.write({"repositories": [_repo(A, "acme/a"), _repo(B, "acme/b")]}, synced_at=DAY(1))
        store.write({"pullrequests": [_pr(A, "draft <b>one</b>", 2), _pr(B, "other", 2)]})
        store.write({"pullrequests": [_pr(A, "final", 4, state="MERGED")]})
        store.write({"pullrequests": [_pr(B, "other, renamed", 6)]})
    return db


def fetch(ds: Datasette, *paths: str) -> dict[str, httpx.Response]:
    async def main() -> dict[str, httpx.Response]:
        return {path: await ds.client.get(path) for path in paths}

    return asyncio.run(main())


def test_a_pull_requests_row_page_carries_the_history_panel(mirror):
    ds = Datasette(files=[str(mirror)])
    page = fetch(ds, f"/acme/pullrequests/{tilde_encode(A + '/pr/1')}")
    text = next(iter(page.values())).text
    assert "bbmirror-history" in text
    assert f"/-/history/acme/pullrequests.json?id={quote(A + '/pr/1', safe='')}" in text
    # Other pages (a table page, a non-mirrored table's row) carry no panel.
    other = fetch(ds, "/acme/pullrequests", "/acme/sync_runs")
    assert all("bbmirror-history" not in r.text for r in other.values())


def test_the_history_json_gives_each_version_with_previous_and_new_values(mirror):
    ds = Datasette(files=[str(mirror)])
    url = f"/-/history/acme/pullrequests.json?id={A}/pr/1"
    data = fetch(ds, url)[url].json()
    assert [v["kind"] for v in data["versions"]] == ["insert", "update"]
    changes = data["versions"][1]["changes"]
    assert changes["title"] == ["draft <b>one</b>", "final"]
    assert changes["state"] == ["OPEN", "MERGED"]
    bad = fetch(
        ds,
        "/-/history/acme/sync_runs.json?id=1",
        "/-/history/acme/pullrequests.json",
        "/-/history/nowhere/pullrequests.json?id=x",
    )
    assert [r.status_code for r in bad.values()] == [404, 400, 404]


def _query(ds: Datasette, name: str, **params: str) -> list[dict]:
    url = f"/acme/{name}.json?_shape=array&" + "&".join(f"{k}={v}" for k, v in params.items())
    response = fetch(ds, url)[url]
    assert response.status_code == 200, response.text
    return response.json()


def test_the_as_of_reports_answer_each_date(mirror):
    ds = Datasette(files=[str(mirror)])
    at = {
        d: _query(ds, "pullrequests_as_of", date=DAY(d)[:10], repository_id="") for d in (1, 3, 7)
    }
    assert at[1] == []
    assert sorted(r["title"] for r in at[3]) == ["draft <b>one</b>", "other"]
    assert sorted(r["title"] for r in at[7]) == ["final", "other, renamed"]
    one = _query(ds, "pullrequests_as_of", date=DAY(3)[:10], repository_id=quote(A))
    assert [(r["title"], r["state"]) for r in one] == [("draft <b>one</b>", "OPEN")]


def test_what_changed_in_a_repository_between_two_dates(mirror):
    ds = Datasette(files=[str(mirror)])
    rows = _query(ds, "repository_changes", repository="acme/a", **{"from": DAY(3)[:10], "to": ""})
    assert [(r["table_name"], r["kind"], r["label"]) for r in rows] == [
        ("pullrequests", "update", "final")
    ]
    assert json.loads(rows[0]["previous_values"])["title"] == "draft <b>one</b>"
    everything = _query(ds, "repository_changes", repository="acme/b", **{"from": "", "to": ""})
    assert {r["row_id"] for r in everything} == {B, f"{B}/pr/1"}


def test_the_as_of_reports_are_generated_from_the_history_sql(tmp_path):
    queries = load_metadata()["databases"]["bitbucket"]["queries"]
    for table in as_of.AS_OF:
        assert queries[f"{table}_as_of"]["sql"] == h.as_of_sql(table)
        assert queries[f"{table}_as_of"]["params"] == ["date", "repository_id"]
    assert queries["repository_changes"]["sql"] == report_sql()
    assert not set(as_of.reports()) & {p.name for p in FOLDER.glob("*.sql")}
    # a file standing for a generated report would be a second source: refused
    for path in [*FOLDER.glob("*.sql"), FOLDER / "metadata.yaml"]:
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "141-issues_as_of.sql").write_text(as_of.reports()["141-issues_as_of.sql"])
    with pytest.raises(ReportError, match="141-issues_as_of.sql: a file for a report"):
        load_metadata(folder=tmp_path)
