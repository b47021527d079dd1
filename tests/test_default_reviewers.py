"""Cloud repository default reviewers (issue 13): transform, simulator, sync, tombstone, 403."""

from __future__ import annotations

import sqlite3

import dbstate
import pytest
from mirror import Harness

from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.rows import RowError
from bbmirror.simulator.cloud.generate import generate

# A condensed user as GET /2.0/repositories/{w}/{r}/default-reviewers lists it.
USER = {
    "display_name": "Ada Lovelace",
    "links": {"self": {"href": "https://api.bitbucket.org/2.0/users/%7Bu-1%7D"}},
    "type": "user",
    "uuid": "{u-1}",
    "account_id": "557058:abc",
    "nickname": "ada",
}


def test_a_listed_user_becomes_a_default_reviewer_row_and_a_user_row():
    rs = cloud_rows.default_reviewer(USER, source="c", repository_id="{r}")
    (row,) = rs["default_reviewers"]
    assert (row["id"], row["repository_id"], row["user_id"]) == (
        "{r}/default-reviewer/{u-1}",
        "{r}",
        "{u-1}",
    )
    assert [u["display_name"] for u in rs["users"]] == ["Ada Lovelace"]


def test_the_effective_shape_with_a_wrapped_user_gives_the_same_key():
    wrapped = {"user": USER, "reviewer_type": "repository", "type": "default_reviewer"}
    rs = cloud_rows.default_reviewer(wrapped, source="c", repository_id="{r}")
    assert rs["default_reviewers"][0]["id"] == "{r}/default-reviewer/{u-1}"


def test_a_reviewer_without_identity_is_a_row_error():
    with pytest.raises(RowError):
        cloud_rows.default_reviewer({"type": "user"}, source="c", repository_id="{r}")


def test_a_sync_mirrors_default_reviewers_and_tombstones_a_removed_one(tmp_path):
    world = generate(5, "tiny")
    repo = max(world.repositories.values(), key=lambda r: len(r.default_reviewers))
    assert repo.default_reviewers  # the generated world has some to mirror
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    gone = repo.default_reviewers.pop(0)
    summary = harness.sync(settings_every=0)  # read every run (a 24 h cadence by default)
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert harness.oracle(world, harness.db) == []
    key = f"{repo.uuid}/default-reviewer/{gone}"
    assert dbstate.alive(harness.db, "default_reviewers")[key] is False  # kept, tombstoned


def test_a_token_without_the_pullrequest_scope_is_refused_and_skips_the_family(tmp_path):
    world = generate(5, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.narrow("repository", "team", "project")
    summary = harness.sync()
    assert summary.outcome == "ok" and summary.skipped > 0, summary.message
    paths = [(r.path, r.status) for r in harness.log if r.path.endswith("/default-reviewers")]
    assert paths and {s for _, s in paths} == {403}
    assert len(paths) == 1  # the family is skipped after its first 403
    conn = sqlite3.connect(harness.db)
    reasons = [r[0] for r in conn.execute("select reason from sync_errors")]
    assert any("pullrequest" in r and r.startswith("skipped:") for r in reasons), reasons
    assert not any(dbstate.alive(harness.db, "default_reviewers").values())
