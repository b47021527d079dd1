"""The independent crash trials (issue 11) and the row-by-row comparison they rely on."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from compare import compare
from crash_trials import run_trials
from dc_mirror import DcHarness
from mirror import Harness

from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.server.generate import generate_dc


@pytest.fixture(scope="module")
def clean_cloud(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("clean") / "cloud.db")
    assert Harness(generate(3, "tiny"), db).sync().outcome == "ok"
    return db


def test_two_clean_syncs_of_one_world_are_equal_row_by_row(tmp_path, clean_cloud):
    """The reference is deterministic: without it every trial would report noise."""
    again = str(tmp_path / "again.db")
    assert Harness(generate(3, "tiny"), again).sync().outcome == "ok"
    dc_a, dc_b = str(tmp_path / "dc-a.db"), str(tmp_path / "dc-b.db")
    for db in (dc_a, dc_b):
        assert DcHarness(generate_dc(3, "tiny"), db).sync().outcome == "ok"
    cloud, dc = compare(clean_cloud, again), compare(dc_a, dc_b)
    assert cloud.equal, cloud.summary()
    assert dc.equal, dc.summary()
    assert cloud.rows > 300 and dc.rows > 300


def _edit(db: str, *statements: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        for sql in statements:
            assert conn.execute(sql).rowcount == 1, sql
    conn.close()


def test_compare_names_every_kind_of_difference(tmp_path, clean_cloud):
    trial = str(tmp_path / "trial.db")
    shutil.copy(clean_cloud, trial)
    conn = sqlite3.connect(trial)
    status, pr, comment, commit = (
        conn.execute(f"select id from {t} order by id limit 1").fetchone()[0]
        for t in ("commit_statuses", "pullrequests", "comments", "commits")
    )
    json_change = conn.execute("select id, json from issues order by id limit 1").fetchone()
    conn.close()
    changed = {**json.loads(json_change[1]), "votes": 12345}

    def copy(suffix: str, message: str, deleted_at: str) -> str:
        return (
            f"insert into commits select id || '{suffix}', source, repository_id, hash,"
            " author_raw, author_name, author_email, author_id, date, committer_raw,"
            f" committer_date, {message}, parent_count, json, {deleted_at}, synced_at"
            f" from commits where id = '{commit}'"
        )

    _edit(
        trial,
        f"delete from commit_statuses where id = '{status}'",  # lost
        f"update pullrequests set deleted_at = '2026-01-01' where id = '{pr}'",  # lost
        f"update comments set body = 'old text' where id = '{comment}'",  # stale
        f"update issues set json = '{json.dumps(changed)}' where id = '{json_change[0]}'",  # stale
        f"update commits set synced_at = '1999-01-01' where id = '{commit}'",  # run-dependent
        copy("-twin", "message", "null"),  # doubled
        copy("-gone", "'vanished upstream'", "null"),  # extra
        copy("-dead", "'deleted upstream'", "'2026-01-01'"),  # a correct tombstone
    )
    found = compare(clean_cloud, trial)
    assert sorted((d.table, d.key, d.kind) for d in found.differences) == sorted(
        [
            ("commit_statuses", status, "lost"),
            ("pullrequests", pr, "lost"),
            ("comments", comment, "stale"),
            ("issues", json_change[0], "stale"),
            ("commits", commit + "-twin", "doubled"),
            ("commits", commit + "-gone", "extra"),
        ]
    )
    assert {d.detail for d in found.differences if d.kind == "stale"} == {"body", "json"}


def test_statuses_a_clean_sync_never_reads_are_checked_against_the_world(tmp_path, clean_cloud):
    """A trial-only status is beyond the reference (the world has it as stored) or frozen (the
    world moved on): reported, not a difference; any other trial-only row stays one."""
    trial = str(tmp_path / "trial.db")
    shutil.copy(clean_cloud, trial)
    conn = sqlite3.connect(trial)
    status = conn.execute("select id from commit_statuses order by id limit 1").fetchone()[0]
    conn.close()
    columns = "source, repository_id, commit_id, commit_hash, key, description, url"
    rest = "refname, created_on, updated_on, json, deleted_at, synced_at"
    _edit(
        trial,
        *(
            f"insert into commit_statuses (id, {columns}, name, state, {rest}) select"
            f" id || '{s}', {columns}, 'build{s}', '{state}', {rest}"
            f" from commit_statuses where id = '{status}'"
            for s, state in (("-same", "SUCCESSFUL"), ("-moved", "FAILED"))
        ),
    )
    world = lambda table, row: row["state"] == "SUCCESSFUL"  # noqa: E731
    found = compare(clean_cloud, trial, world)
    assert found.equal
    assert sorted((d.key, d.kind) for d in found.outside) == [
        (status + "-moved", "frozen"),
        (status + "-same", "beyond"),
    ]
    assert sorted((d.key, d.kind) for d in compare(clean_cloud, trial).differences) == [
        (status + "-moved", "extra"),
        (status + "-same", "extra"),
    ]


@pytest.fixture(scope="module")
def trials():
    """3 Cloud and 2 Data Center trials (scripts/crash-trials runs 25 + 15)."""
    return run_trials(cloud=3, server=2, size="small")[1]


@pytest.mark.slow
def test_killed_syncs_leave_a_sound_database_and_the_rerun_finishes(trials):
    assert len(trials) == 5 and sum(len(o.kills) for o in trials) >= 3
    assert [o.integrity for o in trials] == ["ok"] * 5
    assert all(o.final.startswith("ok") and o.reference.startswith("ok") for o in trials)


@pytest.mark.slow
def test_the_rerun_equals_a_clean_sync_row_by_row(trials):
    failed = [o for o in trials if not o.passed]
    assert not failed, "\n".join(
        f"trial {o.number} ({o.flavour}, seed {o.seed}): final {o.final}\n" + o.comparison.summary()
        for o in failed
    )
