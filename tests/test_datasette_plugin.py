"""bbmirror as a Datasette plugin: plain `datasette` on a mirror, no `-m`, is `bbmirror serve`.

The plugin is found through the `datasette` entry point of the installed package. In-process
checks use a bare `Datasette(files=...)` (no metadata given); the slow test runs the installed
`datasette` console script on a loopback port beside `bbmirror serve` on the same file, and
compares what both serve.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest
from datasette.app import Datasette
from datasette.utils import tilde_encode
from processes import launch, stop

from bbmirror.reports import load_metadata
from bbmirror.serve import make_datasette

QUERIES = load_metadata()["databases"]["bitbucket"]["queries"]
AS_OF = "2026-01-01"  # so that reports measuring age against "now" answer the same twice


# Session, not module: xdist interleaves modules, and a module fixture is made again each
# time its worker comes back to the module.
@pytest.fixture(scope="session")
def mirror(tmp_path_factory, mirrored):
    folder = tmp_path_factory.mktemp("plugin")
    db = folder / "acme.db"
    world = mirrored("cloud", "tiny", seed=5).copy(str(db)).world  # the session's full sync
    other = folder / "other.db"  # not a mirror, but it has a json column
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, json TEXT, body_html TEXT)")
    conn.execute("""INSERT INTO things VALUES (1, '{"a": 1}', '<p>x</p>')""")
    conn.commit()
    conn.close()
    return world, db, other


def fetch(ds, *paths: str) -> dict[str, httpx.Response]:
    async def main() -> dict[str, httpx.Response]:
        return {path: await ds.client.get(path) for path in paths}

    return asyncio.run(main())


def pr_row(world) -> tuple[str, object]:
    """The row path of the PR with the longest description, and the PR."""
    repo = next(r for r in world.repositories.values() if r.pullrequests)
    pr = max(repo.pullrequests.values(), key=lambda p: len(p.description))
    return tilde_encode(f"{repo.uuid}/pr/{pr.id}"), pr


def test_a_bare_datasette_serves_the_mirror_with_bbmirror_metadata_and_only_the_mirror(mirror):
    world, db, other = mirror
    ds = Datasette(files=[str(other), str(db)])  # no metadata: the plugin provides it
    row, _ = pr_row(world)
    pages = fetch(
        ds,
        "/acme",
        "/acme/pr_cycle_time.json?_shape=array",
        "/-/dashboards/engineering",
        f"/acme/pullrequests/{row}",
        "/other",
        "/other/things",
        "/-/metadata.json",
    )
    assert {p: r.status_code for p, r in pages.items() if r.status_code != 200} == {}
    assert all(spec["title"] in pages["/acme"].text for spec in QUERIES.values())
    assert isinstance(pages["/acme/pr_cycle_time.json?_shape=array"].json(), list)
    assert "Engineering overview" in pages["/-/dashboards/engineering"].text
    assert (
        '<details class="bbmirror-folded"><summary>JSON' in pages[f"/acme/pullrequests/{row}"].text
    )
    metadata = pages["/-/metadata.json"].json()
    assert list(metadata["databases"]) == ["acme"]  # the other database gets nothing
    dashboards = metadata["plugins"]["datasette-dashboards"]
    assert {c["db"] for d in dashboards.values() for c in d["charts"].values()} == {"acme"}
    assert "bbmirror-folded" not in pages["/other/things"].text  # its cells are its own
    assert "Pull request cycle time" not in pages["/other"].text


def test_bbmirror_serve_adds_no_metadata_of_its_own(mirror):
    """`serve` and a bare Datasette get the same metadata: the plugin's, keyed to the file."""
    _, db, _ = mirror
    served = fetch(make_datasette(db), "/-/metadata.json")["/-/metadata.json"].json()
    bare = fetch(Datasette(files=[str(db)]), "/-/metadata.json")["/-/metadata.json"].json()
    assert served == bare == load_metadata("acme")


def test_metadata_given_with_m_still_takes_precedence(mirror):
    _, db, _ = mirror
    ds = Datasette(files=[str(db)], metadata={"title": "Our mirror"})
    pages = fetch(ds, "/", "/acme")
    assert "Our mirror" in pages["/"].text and "Bitbucket mirror" not in pages["/"].text
    assert QUERIES["pr_cycle_time"]["title"] in pages["/acme"].text
    again = fetch(Datasette(files=[str(db)]), "/")["/"].text  # the plugin's copy is unharmed
    assert "Bitbucket mirror" in again and "Our mirror" not in again


def test_every_metadata_lookup_answers_as_with_the_metadata_given_locally(mirror, tmp_path):
    """The hook hands each lookup only its part; what Datasette answers must not change."""
    _, db, _ = mirror
    plain = tmp_path / "acme.db"  # not a mirror, so the plugin stays out; same name
    sqlite3.connect(plain).close()
    local = Datasette(files=[str(plain)], metadata=load_metadata("acme"))
    hooked = Datasette(files=[str(db)])
    tables = [*load_metadata()["databases"]["bitbucket"]["tables"], "no_such_table"]
    keys = [None, "plugins", "tables", "queries", "databases", "title", "source", "license"]
    keys += ["description", "label_column", "sort_desc", "facets", "columns", "allow", "nope"]
    lookups = [(key, None, None) for key in keys]
    lookups += [(key, "acme", table) for key in keys for table in [None, *tables]]
    for key, database, table in lookups:
        for fallback in (True, False):
            want = local.metadata(key, database=database, table=table, fallback=fallback)
            got = hooked.metadata(key, database=database, table=table, fallback=fallback)
            assert got == want, (key, database, table, fallback)
    for table in tables:
        for name in ("datasette-render-markdown", "datasette-dashboards"):
            want = local.plugin_config(name, database="acme", table=table)
            assert hooked.plugin_config(name, database="acme", table=table) == want


# -- the real console scripts -------------------------------------------------------------------


def report_path(name: str) -> str:
    """A report's rows as JSON, with a fixed `as_of` where the report takes one."""
    query = f"&as_of={AS_OF}" if "as_of" in QUERIES[name]["params"] else ""
    return f"/acme/{name}.json?_shape=array{query}"


@pytest.mark.slow
def test_plain_datasette_without_m_serves_what_bbmirror_serve_serves(mirror):
    world, db, _ = mirror
    row, pr = pr_row(world)
    word = max(pr.title.split(), key=len)
    paths = [report_path(name) for name in QUERIES]
    paths += ["/-/metadata.json", f"/acme/pullrequests.json?_search={word}&_extra=table"]
    bindir = Path(sys.executable).parent
    plain, plain_url = launch(
        [str(bindir / "datasette"), "serve", str(db), "--port", "0"], r"running on (http://\S+)"
    )
    try:
        serve, serve_url = launch(
            [str(bindir / "bbmirror"), "serve", str(db), "--port", "0"], r" at (http://\S+)"
        )
        try:
            served = {p: httpx.get(serve_url + p, timeout=10) for p in paths}
            shown = {p: httpx.get(plain_url + p, timeout=10) for p in paths}
        finally:
            stop(serve)
        extra = ["/acme", "/-/dashboards", "/-/dashboards/engineering", "/-/plugins.json"]
        extra += [f"/acme/pullrequests/{row}", "/-/dashboards/sync-health"]
        shown.update({p: httpx.get(plain_url + p, timeout=10) for p in extra})
    finally:
        stop(plain)
    assert {
        p: r.status_code for p, r in [*served.items(), *shown.items()] if r.status_code != 200
    } == {}
    for path in paths:  # every report's rows, the metadata and the search results are equal
        ours, theirs = shown[path].json(), served[path].json()
        if isinstance(ours, dict) and "rows" in ours:  # facet sizes are serve's own settings
            ours, theirs = (ours["columns"], ours["rows"]), (theirs["columns"], theirs["rows"])
        assert ours == theirs, path
    assert shown["/-/metadata.json"].json() == load_metadata("acme")
    found = shown[f"/acme/pullrequests.json?_search={word}&_extra=table"].json()
    assert "json" not in found["columns"] and "title" in found["columns"]  # compact search
    assert pr.title in json.dumps(found["rows"])
    database = shown["/acme"].text
    assert all(spec["title"] in database for spec in QUERIES.values())  # the report pages
    assert "Engineering overview" in shown["/-/dashboards"].text
    assert "Sync health" in shown["/-/dashboards/sync-health"].text
    assert 'id="chart-open-prs"' in shown["/-/dashboards/engineering"].text
    page = shown[f"/acme/pullrequests/{row}"].text
    assert '<details class="bbmirror-folded"><summary>JSON' in page  # folded JSON
    assert "<p>" in page  # the Markdown description, rendered
    assert "bbmirror" in {p["name"] for p in shown["/-/plugins.json"].json()}
