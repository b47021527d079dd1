"""`bbmirror history`: one row's versions, changes since a date, pruning; bad input."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from bbmirror.cli import cli
from bbmirror.store import Store

KEY = "{repo}/pr/1"


def _pr(title: str, updated_on: str) -> dict:
    row = {"id": KEY, "source": "c", "repository_id": "{repo}", "number": 1, "json": "{}"}
    return {"pullrequests": [{**row, "title": title, "state": "OPEN", "updated_on": updated_on}]}


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "m.db")
    with Store.open(path) as store:
        store.write(_pr("first", "2020-01-01T00:00:00.000000+00:00"))
        store.write(_pr("second", "2026-11-01T00:00:00.000000+00:00"))
    return path


def run(*args: str):
    return CliRunner().invoke(cli, ["history", *args])


def test_a_rows_versions_show_what_changed(db):
    out = run(db, "--table", "pullrequests", "--key", KEY)
    assert out.exit_code == 0, out.output
    assert "2 version(s)" in out.output
    assert 'title: "first" -> "second"' in out.output
    data = json.loads(run(db, "--table", "pullrequests", "--key", KEY, "--json").output)
    assert [v["kind"] for v in data] == ["insert", "update"]
    assert data[-1]["changed"] == {
        "title": "first",
        "updated_on": "2020-01-01T00:00:00.000000+00:00",
    }


def test_since_lists_only_later_changes(db):
    out = run(db, "--since", "2026-10-01", "--json")
    assert out.exit_code == 0, out.output
    found = json.loads(out.output)
    assert [(v["row_id"], v["kind"]) for v in found] == [(KEY, "update")]
    assert found[0]["changes"]["title"] == ["first", "second"]
    assert run(db, "--since", "2027-01-01", "--json").output.strip() == "[]"


def test_prune_days_deletes_old_versions_only(db):
    out = run(db, "--prune-days", "30")
    assert out.exit_code == 0, out.output
    assert "pruned 1 version(s)" in out.output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT kind FROM row_versions").fetchall() == [("update",)]
    assert conn.execute("SELECT title FROM pullrequests").fetchall() == [("second",)]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give one of --key"),
        (("--key", KEY), "--key needs --table"),
        (("--since", "last tuesday"), "not a date"),
        (("--table", "pullrequests", "--key", "nope"), "has no row 'nope'"),
        (("--since", "2020-01-01", "--prune-days", "3"), "give one of"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_database_alone(db, args, says):
    before = sqlite3.connect(db).execute("SELECT count(*) FROM row_versions").fetchone()
    out = run(db, *args)
    assert out.exit_code != 0
    assert says in out.output
    assert len(out.output.strip().splitlines()) == 1
    assert sqlite3.connect(db).execute("SELECT count(*) FROM row_versions").fetchone() == before


def test_a_missing_database_is_one_line(tmp_path):
    out = run(str(tmp_path / "absent.db"), "--since", "2020-01-01")
    assert out.exit_code != 0
    assert len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / "absent.db").exists()
