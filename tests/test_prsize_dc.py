"""Pull-request size on Data Center (issue 15): diff and changes, truncation, sync, economy."""

from __future__ import annotations

import random

import worlds
from dbstate import keyed
from dc_mirror import SOURCE
from test_dc_api import API, make_app, ok

from bbmirror.flavours.server import rows_prsize
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.simulator.server.mutate_code import merge_into, push_commits
from bbmirror.simulator.server.mutate_pr import comment_pr
from bbmirror.simulator.server.prsize import MAX_DIFF_LINES, expected_files, pr_changes

PR = "{r}/pr/3"
PATH = {"components": ["src", "a.py"], "parent": "src", "name": "a.py", "toString": "src/a.py"}
OLD = {**PATH, "components": ["a.py"], "toString": "a.py"}


def _lines(kind: str, n: int, truncated: bool = False) -> dict:
    lines = [{"source": i, "destination": i, "line": "x", "truncated": False} for i in range(n)]
    return {"type": kind, "lines": lines, "truncated": truncated}


def _diff(source: dict | None, destination: dict | None, *segments: dict, cut=False) -> dict:
    hunk = {"sourceLine": 1, "sourceSpan": 1, "destinationLine": 1, "destinationSpan": 2}
    hunk |= {"segments": list(segments), "truncated": cut}
    return {"source": source, "destination": destination, "hunks": [hunk], "truncated": cut}


def _row(obj: dict, fn=rows_prsize.diff_file) -> dict:
    rs = fn(obj, source="s", repository_id="{r}", pullrequest_id=PR, source_commit="abc")
    (row,) = rs["pullrequest_files"]
    return row


def test_a_diff_entry_counts_its_added_and_removed_lines():
    row = _row(_diff(PATH, PATH, _lines("REMOVED", 1), _lines("ADDED", 2), _lines("CONTEXT", 3)))
    assert (row["id"], row["status"], row["old_path"]) == (
        f"{PR}/file/src/a.py",
        "modified",
        "src/a.py",
    )
    assert (row["lines_added"], row["lines_removed"]) == (2, 1)
    assert "hunks" not in row["json"]  # the lines' text is not stored


def test_statuses_come_from_the_paths_and_a_truncated_file_has_no_line_counts():
    assert _row(_diff(None, PATH, _lines("ADDED", 1)))["status"] == "added"
    assert _row(_diff(PATH, None, _lines("REMOVED", 1)))["status"] == "removed"
    moved = _row(_diff(OLD, PATH))
    assert (moved["status"], moved["old_path"], moved["lines_added"]) == ("renamed", "a.py", 0)
    cut = _row(_diff(PATH, PATH, _lines("ADDED", 5, truncated=True)))
    assert (cut["lines_added"], cut["lines_removed"]) == (None, None)


def test_a_change_entry_maps_its_type_and_has_no_lines():
    move = _row({"path": PATH, "srcPath": OLD, "type": "MOVE"}, rows_prsize.change_file)
    assert (move["status"], move["old_path"], move["lines_added"]) == ("renamed", "a.py", None)
    add = _row({"path": PATH, "type": "ADD"}, rows_prsize.change_file)
    assert (add["status"], add["old_path"]) == ("added", None)


def _truncated(world):
    return next(
        (r, p) for r, p in worlds.prs(world) if not all(whole for _, whole in expected_files(r, p))
    )


def test_the_simulators_diff_stops_at_its_line_cap_and_changes_is_one_page():
    world = generate_dc(5, "small")
    repo, pr = _truncated(world)
    app = make_app(world)
    project = world.projects[repo.project_id].key
    base = f"{API}/projects/{project}/repos/{repo.slug}/pull-requests/{pr.id}"
    body = ok(app, f"{base}/diff", contextLines="0", withComments="false")
    shown = sum(len(s["lines"]) for d in body["diffs"] for h in d["hunks"] for s in h["segments"])
    assert body["truncated"] is True and body["diffs"][-1]["truncated"] is True
    assert shown == MAX_DIFF_LINES and len(body["diffs"]) < len(pr_changes(repo, pr))
    page = ok(app, f"{base}/changes", limit="5", start="5")
    assert (page["start"], page["size"], page["isLastPage"]) == (0, 5, False)
    whole = ok(app, f"{base}/changes", limit="1000")
    assert whole["isLastPage"] is True and whole["size"] == len(pr_changes(repo, pr))


def _files(db: str, pr_key: str) -> dict[str, tuple]:
    sql = "select path, source_commit, lines_added from pullrequest_files where deleted_at"
    return keyed(db, sql + " is null and pullrequest_id = ?", pr_key)


def _asked(log, tail: str) -> list[str]:
    return [e.path for e in log if e.path.endswith(tail) and "/pull-requests/" in e.path]


def test_a_full_sync_reads_one_diff_per_pr_and_changes_only_when_truncated(mirrored):
    m = mirrored("server", "small")
    world = m.harness.world
    assert m.harness.oracle(world, m.db) == []
    prs = list(worlds.prs(world))
    cut = [(r, p) for r, p in prs if not all(w for _, w in expected_files(r, p))]
    assert len(_asked(m.harness.log, "/diff")) == len(prs)
    assert len(_asked(m.harness.log, "/changes")) == len(cut) > 0
    repo, pr = cut[0]
    files = _files(m.db, f"{SOURCE}/repo/{repo.id}/pr/{pr.id}")
    assert len(files) == len(pr_changes(repo, pr))
    assert None in {v[1] for v in files.values()}  # lines unknown where the diff was cut


def test_only_a_pr_whose_source_moved_is_diffed_again(tmp_path, mirrored):
    harness = mirrored("server", "small").copy(str(tmp_path / "m.db"))
    world = harness.world
    rng = random.Random(4)
    repo, pr = next(
        (r, p)
        for r, p in worlds.prs(world)
        if p.state == "OPEN" and p.from_repo_id == r.id and p.from_branch in r.branches
    )
    other = next(p for p in repo.pull_requests.values() if p.state == "OPEN" and p is not pr)
    comment_pr(world, other, other.author_id, "a comment that moves nothing")
    push_commits(world, repo, pr.from_branch, rng, n=2)
    before = len(harness.log)
    harness.sync_equal()
    asked = _asked(harness.log[before:], "/diff")
    assert len(asked) == 1 and asked[0].endswith(f"/pull-requests/{pr.id}/diff")
    before = len(harness.log)
    harness.sync_equal()
    assert _asked(harness.log[before:], "/diff") == []


def test_a_pr_whose_target_moved_is_diffed_again(tmp_path, mirrored):
    """Merging part of an open PR into its target shrinks its diff: the mirror follows."""
    harness = mirrored("server", "small").copy(str(tmp_path / "m.db"))
    world = harness.world
    repo, pr = next(
        (r, p)
        for r, p in worlds.prs(world)
        if p.state == "OPEN" and p.from_repo_id == r.id and len(p.commit_ids) > 1
    )
    before = pr_changes(repo, pr)
    merge_into(world, repo, pr.to_branch, pr.commit_ids[-1], random.Random(5))
    assert pr_changes(repo, pr) != before  # the world's diff of this PR changed
    start = len(harness.log)
    harness.sync_equal()  # pullrequest_files equal the world's, with every other table
    asked = _asked(harness.log[start:], "/diff")
    assert any(a.endswith(f"/pull-requests/{pr.id}/diff") for a in asked), asked
