"""Records a server renders with wrong types are quarantined; the run goes on (issue 11.4).

Each case edits one pull request as the simulator sends it (``Rewrite``): a title that is an
object, an integer beyond 64 bits, JSON nested 990 levels, a list entry that is a string, a
negative date, a lone surrogate in a title. The sync must finish, name the record in
``sync_errors``, mirror every other PR, and (Data Center) never tombstone the unreadable PR or
its children.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from dc_mirror import DcHarness
from mirror import Harness

from bbmirror.engine import Options
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.common.rewrite import Rewrite
from bbmirror.simulator.server.generate import generate_dc


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


STRING_ENTRY = "not an object"
# case -> (Cloud field, Data Center field, value); a None field appends a string entry instead.
CASES: dict[str, tuple[str | None, str | None, Any]] = {
    "title_object": ("title", "title", {"text": "a title that is an object"}),
    "int_beyond_64_bits": ("task_count", "version", 2**64 + 1),
    "nested_990_levels": ("title", "title", _nested(990)),
    "string_list_entry": (None, None, STRING_ENTRY),
    "negative_date": ("created_on", "createdDate", None),  # per flavour below
    "lone_surrogate": ("title", "title", "broken \ud800 title"),
}
NEGATIVE = {"cloud": "-0001-01-01T00:00:00+00:00", "dc": -(10**17)}


def _breaker(list_suffix: str, number: int, field: str | None, value: Any):
    """An edit that spoils PR ``number`` (or appends a string entry) on every PR list page."""

    def edit(path: str, doc: Any) -> Any:
        if not path.endswith(list_suffix) or not isinstance(doc, dict):
            return doc
        values = doc.get("values")
        if not isinstance(values, list):
            return doc
        if field is None:
            values.append(value)
            return doc
        for entry in values:
            if isinstance(entry, dict) and entry.get("id") == number:
                entry[field] = value
        return doc

    return edit


def _errors(db: str) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select stream, reason, payload from sync_errors").fetchall()
    finally:
        conn.close()


def _alive(db: str, sql: str, *args: object) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql + " and deleted_at is null", args).fetchone()[0]
    finally:
        conn.close()


def _value(case: str, flavour: str) -> tuple[str | None, Any]:
    cloud_field, dc_field, value = CASES[case]
    field = cloud_field if flavour == "cloud" else dc_field
    return field, NEGATIVE[flavour] if case == "negative_date" else value


def _assert_quarantined(db: str, case: str) -> None:
    errors = _errors(db)
    assert errors, "the bad record must be in sync_errors"
    streams = {stream for stream, _, _ in errors}
    assert "pullrequests" in streams, errors
    assert all(reason for _, reason, _ in errors)
    if case == "string_list_entry":
        assert any(STRING_ENTRY in payload for _, _, payload in errors)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cloud_bad_pull_request_is_quarantined_and_the_run_goes_on(tmp_path, case):
    harness = Harness(generate(11, "tiny"), str(tmp_path / "m.db"))
    repo = max(harness.world.repositories.values(), key=lambda r: len(r.pullrequests))
    number = max(repo.pullrequests)
    field, value = _value(case, "cloud")
    harness.app = Rewrite(harness.app, _breaker("/pullrequests", number, field, value))
    summary = harness.sync()
    assert summary.errors >= 1, summary.message
    _assert_quarantined(harness.db, case)
    alive = _alive(
        harness.db, "select count(*) from pullrequests where repository_id = ?", repo.uuid
    )
    broken = 0 if case == "string_list_entry" else 1
    assert alive == len(repo.pullrequests) - broken
    conn = sqlite3.connect(harness.db)
    assert conn.execute("select count(*) from repositories").fetchone()[0] == len(
        harness.world.repositories
    )  # every other repository was mirrored too: the run went on


@pytest.mark.parametrize("case", sorted(CASES))
def test_dc_bad_pull_request_is_quarantined_and_never_tombstoned(tmp_path, case):
    harness = DcHarness(generate_dc(5, "tiny"), str(tmp_path / "m.db"))
    first = harness.sync()
    assert (first.outcome, first.errors) == ("ok", 0), first.message
    repo = max(harness.world.repositories.values(), key=lambda r: len(r.pull_requests))
    pr = max(repo.pull_requests.values(), key=lambda p: len(list(p.all_comments())))
    key = f"dc/repo/{repo.id}/pr/{pr.id}"
    comments = _alive(harness.db, "select count(*) from comments where pullrequest_id = ?", key)
    activity = _alive(
        harness.db, "select count(*) from pullrequest_activity where pullrequest_id = ?", key
    )
    assert comments and activity
    field, value = _value(case, "dc")
    harness.app = Rewrite(harness.app, _breaker("/pull-requests", pr.id, field, value))
    summary = harness.sync(Options(reconcile=True))  # a complete list: tombstoning runs
    assert summary.errors >= 1, summary.message
    _assert_quarantined(harness.db, case)
    assert _alive(harness.db, "select count(*) from pullrequests where id = ?", key) == 1
    assert _alive(harness.db, "select count(*) from comments where pullrequest_id = ?", key) == (
        comments
    )
    assert _alive(
        harness.db, "select count(*) from pullrequest_activity where pullrequest_id = ?", key
    ) == (activity)
    total = sum(len(r.pull_requests) for r in harness.world.repositories.values())
    assert _alive(harness.db, "select count(*) from pullrequests where source = ?", "dc") == total
