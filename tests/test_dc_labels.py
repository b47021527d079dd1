"""Data Center repository labels (issue 13): transform, simulator, sync, tombstone."""

from __future__ import annotations

import dbstate
import pytest
from dc_mirror import DcHarness

from bbmirror.flavours.server import rows
from bbmirror.rows import RowError
from bbmirror.simulator.server.generate import generate_dc


def test_a_label_becomes_a_row_keyed_by_repository_and_name():
    rs = rows.repository_label({"name": "backend"}, source="dc", repository_id="dc/repo/1")
    (row,) = rs["repository_labels"]
    assert (row["id"], row["repository_id"], row["name"]) == (
        "dc/repo/1/label/backend",
        "dc/repo/1",
        "backend",
    )


def test_a_label_without_a_name_is_a_row_error():
    with pytest.raises(RowError):
        rows.repository_label({"name": ""}, source="dc", repository_id="dc/repo/1")


def test_a_sync_mirrors_labels_and_tombstones_a_removed_one(tmp_path):
    world = generate_dc(3, "tiny")
    repo = max(world.repositories.values(), key=lambda r: len(r.labels))
    assert repo.labels  # the generated world has some to mirror
    harness = DcHarness(world, str(tmp_path / "m.db"))
    harness.sync_equal()
    gone = repo.labels.pop(0)
    harness.sync_equal()
    source = harness.source().name
    key = f"{source}/repo/{repo.id}/label/{gone}"
    assert dbstate.alive(harness.db, "repository_labels")[key] is False
