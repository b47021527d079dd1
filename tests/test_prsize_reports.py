"""The pull-request size reports (180, 181): every number recomputed from the world's objects."""

from __future__ import annotations

import statistics
from collections import defaultdict

import pytest
from reportrun import changed_mirror
from test_reports import approx, first_review, hours, merged_on, report, ts

from bbmirror.simulator.cloud.diffstat import pr_changes

ORDER = ("XS", "S", "M", "L", "XL", "unknown")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, mirrored):
    """The session's small Cloud mirror, copied, after some activity (pushes move sources)."""
    return changed_mirror(mirrored, tmp_path_factory.mktemp("prsize-reports"), 80, seed=15)


def bucket(lines: int | None) -> str:
    if lines is None:
        return "unknown"
    for name, top in (("XS", 10), ("S", 50), ("M", 250), ("L", 1000)):
        if lines < top:
            return name
    return "XL"


def size(repo, pr) -> tuple[int, int | None, int, int]:
    """(files, lines or None when no file, added, removed) of the PR's diffstat."""
    changes = pr_changes(repo, pr)
    added, removed = sum(c.added for c in changes), sum(c.removed for c in changes)
    return len(changes), (added + removed if changes else None), added, removed


def rework(pr) -> int | None:
    """Updates after the first review whose source commit differs from the update before."""
    review = first_review(pr)
    if review is None:
        return None
    updates = sorted((a for a in pr.activity if a.kind == "update"), key=lambda a: ts(a.date))
    return sum(
        1
        for before, now in zip(updates, updates[1:], strict=False)
        if now.data.get("source_commit") != before.data.get("source_commit")
        and ts(now.date) > ts(review)
    )


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def test_size_distribution_per_repository_month_and_bucket(mirror):
    want: dict[tuple, list] = defaultdict(list)
    for repo in mirror.world.repositories.values():
        for pr in repo.pullrequests.values():
            month = ts(pr.created_on).strftime("%Y-%m")
            want[repo.full_name, month, bucket(size(repo, pr)[1])].append(size(repo, pr))
    rows = report(mirror.db, "pullrequest_size")
    got = {(r["repository"], r["month"], r["bucket"]): r for r in rows}
    assert set(got) == set(want)
    for key, sizes in want.items():
        row = got[key]
        assert row["pull_requests"] == len(sizes), key
        lines = [s[1] for s in sizes if s[1] is not None]
        assert row["median_lines"] == median(lines), key
        if key[2] != "unknown":
            assert row["median_files"] == median([s[0] for s in sizes]), key
            assert (row["lines_added"], row["lines_removed"]) == (
                sum(s[2] for s in sizes),
                sum(s[3] for s in sizes),
            )
    assert {k[2] for k in want} >= {"XS", "S", "M", "L", "XL"}  # every bucket is exercised
    one = rows[0]["repository"]
    assert {r["repository"] for r in report(mirror.db, "pullrequest_size", repository=one)} == {one}


def test_review_time_merge_time_and_rework_by_size(mirror):
    per: dict[str, list] = defaultdict(list)
    for repo in mirror.world.repositories.values():
        for pr in repo.pullrequests.values():
            review, merged = first_review(pr), merged_on(pr)
            per[bucket(size(repo, pr)[1])].append(
                (
                    round(hours(pr.created_on, review), 2) if review else None,
                    round(hours(pr.created_on, merged), 2) if merged else None,
                    rework(pr),
                )
            )
    rows = report(mirror.db, "review_time_by_size")
    assert [r["bucket"] for r in rows] == [b for b in ORDER if b in per]
    total_rework = 0
    for row in rows:
        prs = per[row["bucket"]]
        reviews = [p[0] for p in prs if p[0] is not None]
        merges = [p[1] for p in prs if p[1] is not None]
        reworks = [p[2] for p in prs if p[2] is not None]
        assert (row["pull_requests"], row["reviewed"], row["merged"]) == (
            len(prs),
            len(reviews),
            len(merges),
        )
        assert row["median_review_hours"] == approx(median(reviews) or 0)
        assert row["median_merge_hours"] == approx(median(merges) or 0)
        assert (row["reworked"] or 0, row["rework_updates"]) == (
            sum(1 for n in reworks if n > 0),
            sum(reworks),
        )
        if reworks:
            assert row["rework_per_reviewed"] == approx(sum(reworks) / len(reworks))
        total_rework += sum(reworks)
    assert total_rework > 0  # pushes after a review happen in this world
