"""Cloud repository default reviewers (issue 13): transform, simulator, sync, tombstone, 403.

The sync-and-tombstone test runs for Data Center repository labels too: both are a
repository's plain list, read whole each run."""

from __future__ import annotations

import sqlite3

import dbstate
import pytest
from mirror import Harness
from test_store_rows import BRODIE

from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.rows import RowError
from bbmirror.simulator.cloud.generate import generate

KEY = f"{{r}}/default-reviewer/{BRODIE['uuid']}"  # a default reviewer's row id in repository {r}


def test_a_listed_user_becomes_a_default_reviewer_row_and_a_user_row():
    # GET /2.0/repositories/{w}/{r}/default-reviewers lists condensed users like this one.
    rs = cloud_rows.default_reviewer(BRODIE, source="c", repository_id="{r}")
    (row,) = rs["default_reviewers"]
    assert (row["id"], row["repository_id"], row["user_id"]) == (KEY, "{r}", BRODIE["uuid"])
    assert [u["display_name"] for u in rs["users"]] == ["Brodie Rao"]


def test_the_effective_shape_with_a_wrapped_user_gives_the_same_key():
    wrapped = {"user": BRODIE, "reviewer_type": "repository", "type": "default_reviewer"}
    rs = cloud_rows.default_reviewer(wrapped, source="c", repository_id="{r}")
    assert rs["default_reviewers"][0]["id"] == KEY


def test_a_reviewer_without_identity_is_a_row_error():
    with pytest.raises(RowError):
        cloud_rows.default_reviewer({"type": "user"}, source="c", repository_id="{r}")


# Each flavour's repository list from issue 13: the seed, the world's list, the table, a row id.
LISTS = {
    "cloud": (5, "default_reviewers", "default_reviewers", "{repo.uuid}/default-reviewer/{gone}"),
    "server": (3, "labels", "repository_labels", "{source}/repo/{repo.id}/label/{gone}"),
}


def test_a_sync_mirrors_the_list_and_tombstones_a_removed_item(tmp_path, flavour):
    seed, attribute, table, key = LISTS[flavour.name]
    harness = flavour.mirror(seed, "tiny", str(tmp_path / "m.db"))
    repo = max(harness.world.repositories.values(), key=lambda r: len(getattr(r, attribute)))
    assert getattr(repo, attribute)  # the generated world has some to mirror
    harness.sync_equal()
    gone = getattr(repo, attribute).pop(0)
    harness.sync_equal(settings_every=0)  # Cloud reads it every run (a 24 h cadence by default)
    row = key.format(repo=repo, gone=gone, source=harness.source().name)
    assert dbstate.alive(harness.db, table)[row] is False  # kept, tombstoned


def test_a_token_without_the_pullrequest_scope_is_refused_and_skips_the_family(tmp_path):
    harness = Harness(generate(5, "tiny"), str(tmp_path / "m.db"))
    harness.sync_narrowed("repository", "team", "project")
    paths = [(r.path, r.status) for r in harness.log if r.path.endswith("/default-reviewers")]
    assert paths and {s for _, s in paths} == {403}
    assert len(paths) == 1  # the family is skipped after its first 403
    conn = sqlite3.connect(harness.db)
    reasons = [r[0] for r in conn.execute("select reason from sync_errors")]
    assert any("pullrequest" in r and r.startswith("skipped:") for r in reasons), reasons
    assert not any(dbstate.alive(harness.db, "default_reviewers").values())
