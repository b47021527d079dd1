"""Pull-request size on Cloud (issue 15): diffstat transform, simulator, sync and economy."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
import worlds
from dbstate import keyed
from mirror import BASE, TOKEN, Harness

from bbmirror.flavours.cloud import rows_prsize
from bbmirror.rows import RowError
from bbmirror.simulator.cloud import diffstat
from bbmirror.simulator.cloud.diffstat import Change, commit_changes, fold, pr_changes
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.mutate import comment_pr, push_commits
from bbmirror.simulator.common.transport import SimulatorTransport

# The diffstat element of the reference's sample (seed 002: bitbucket/geordi d222fa2..e174964).
GEORDI = {
    "type": "diffstat",
    "status": "modified",
    "lines_removed": 1,
    "lines_added": 2,
    "old": {"path": "setup.py", "escaped_path": "setup.py", "type": "commit_file"},
    "new": {"path": "setup.py", "escaped_path": "setup.py", "type": "commit_file"},
}
PR = "{r}/pr/7"


def _row(obj: dict) -> dict:
    rs = rows_prsize.pr_file(
        obj, source="c", repository_id="{r}", pullrequest_id=PR, source_commit="abc"
    )
    (row,) = rs["pullrequest_files"]
    return row


def test_the_reference_sample_becomes_one_file_row():
    row = _row(GEORDI)
    assert (row["id"], row["path"], row["old_path"], row["status"]) == (
        f"{PR}/file/setup.py",
        "setup.py",
        "setup.py",
        "modified",
    )
    assert (row["lines_added"], row["lines_removed"], row["source_commit"]) == (2, 1, "abc")


def test_added_removed_and_renamed_files_key_on_the_path_they_have_now():
    added = _row({**GEORDI, "status": "added", "old": None})
    removed = _row({**GEORDI, "status": "removed", "new": None})
    renamed = _row({**GEORDI, "status": "renamed", "new": {"path": "pkg/setup.py"}})
    assert (added["path"], added["old_path"]) == ("setup.py", None)
    assert (removed["path"], removed["old_path"]) == ("setup.py", "setup.py")
    assert (renamed["id"], renamed["old_path"]) == (f"{PR}/file/pkg/setup.py", "setup.py")


def test_an_entry_without_any_path_is_a_row_error():
    with pytest.raises(RowError):
        _row({**GEORDI, "old": None, "new": None})


def test_folding_a_range_chains_renames_and_cancels_an_add_then_remove():
    changes = [
        Change("added", None, "a.py", 5, 0),
        Change("modified", "b.py", "b.py", 2, 1),
        Change("renamed", "b.py", "c.py", 1, 1),
        Change("removed", "a.py", None, 0, 5),
        Change("removed", "d.py", None, 0, 3),
        Change("added", "d.py", "d.py", 4, 0),
    ]
    assert fold(changes) == [
        Change("renamed", "b.py", "c.py", 3, 2),
        Change("modified", "d.py", "d.py", 4, 3),
    ]


def _get(app, path: str, **params) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=SimulatorTransport(app), base_url=BASE) as c:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            return await c.get(path, params=params or None, headers=headers)

    return asyncio.run(go())


def test_the_pr_diffstat_redirects_and_the_spec_diffstat_sums_the_prs_commits(tmp_path):
    world = generate(11, "small")
    repo, pr = next(
        (r, p)
        for r, p in worlds.prs(world)
        if len(p.commit_hashes) == 1 and len(r.commits[p.commit_hashes[0]].parents) == 1
    )
    app = Harness(world, str(tmp_path / "m.db")).app
    where = f"/repositories/{repo.full_name}"
    moved = _get(app, f"{where}/pullrequests/{pr.id}/diffstat")
    assert moved.status_code == 302
    location = moved.headers["location"]
    assert f"/diffstat/{repo.full_name}:{pr.source_commit[:12]}%0D" in location
    assert "from_pullrequest_id" in location and "topic=true" in location
    followed = _get(app, location.removeprefix(BASE))
    spec = f"{pr.source_commit[:12]}..{pr.destination_commit[:12]}"
    direct = _get(app, f"{where}/diffstat/{spec}", pagelen="500")
    assert followed.json()["values"] == direct.json()["values"]
    (sha,) = pr.commit_hashes
    want = commit_changes(repo.uuid, sha, 1)
    got = [(v["status"], v["lines_added"], v["lines_removed"]) for v in direct.json()["values"]]
    assert sorted(got) == sorted((c.status, c.added, c.removed) for c in want)


def test_a_diffstat_over_500_files_is_paged(tmp_path):
    world = generate(11, "small")
    repo, pr = next(
        (r, p) for r, p in worlds.prs(world) if len(pr_changes(r, p)) > diffstat.MAX_PAGELEN
    )
    app = Harness(world, str(tmp_path / "m.db")).app
    spec = f"{pr.source_commit}..{pr.destination_commit}"
    first = _get(app, f"/repositories/{repo.full_name}/diffstat/{spec}", pagelen="1000").json()
    assert first["pagelen"] == 500 and len(first["values"]) == 500 and "next" in first
    rest = _get(app, first["next"].removeprefix(BASE)).json()
    assert len(first["values"]) + len(rest["values"]) == len(pr_changes(repo, pr))


def _files(db: str) -> dict[str, tuple]:
    sql = "select id, source_commit, lines_added from pullrequest_files"
    return keyed(db, sql + " where deleted_at is null")


def _diffstat_requests(log) -> list[str]:
    return [e.path for e in log if "/diffstat/" in e.path]


def test_a_full_sync_reads_one_diffstat_per_pr_and_equals_the_world(mirrored):
    m = mirrored("cloud", "small")
    world = m.harness.world
    assert m.harness.oracle(world, m.db) == []
    prs = list(worlds.prs(world))
    pages = sum(max(1, -(-len(pr_changes(r, p)) // 500)) for r, p in prs)
    assert len(_diffstat_requests(m.harness.log)) == pages > len(prs)  # one PR has > 500 files
    assert len(_files(m.db)) == sum(len(pr_changes(r, p)) for r, p in prs) > 0


def test_only_a_pr_whose_source_moved_is_asked_again(tmp_path, mirrored):
    harness = mirrored("cloud", "small").copy(str(tmp_path / "m.db"))
    world = harness.world
    rng = random.Random(3)
    repo, pr = next(
        (r, p) for r, p in worlds.prs(world) if p.state == "OPEN" and p.source_branch in r.branches
    )
    other = next(p for p in repo.pullrequests.values() if p.state == "OPEN" and p is not pr)
    comment_pr(world, repo, other, rng)  # the other PR changes, its source does not
    before = len(harness.log)
    push_commits(world, repo, pr.source_branch, rng, n=2)
    harness.sync_equal()
    asked = _diffstat_requests(harness.log[before:])
    assert asked == [
        f"/2.0/repositories/{repo.full_name}/diffstat/"
        f"{pr.source_commit[:12]}..{pr.destination_commit[:12]}"
    ]
    files = _files(harness.db)
    mine = {k: v for k, v in files.items() if k.startswith(f"{repo.uuid}/pr/{pr.id}/file/")}
    assert mine and {v[0] for v in mine.values()} == {pr.source_commit[:12]}
    before = len(harness.log)
    harness.sync_equal()  # a no-op run asks for no diffstat
    assert _diffstat_requests(harness.log[before:]) == []
