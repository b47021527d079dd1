"""Data Center repository labels (issue 13): the transform; the sync and the tombstone are
tested with Cloud's default reviewers in test_default_reviewers.py."""

from __future__ import annotations

import pytest

from bbmirror.flavours.server import rows
from bbmirror.rows import RowError


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
