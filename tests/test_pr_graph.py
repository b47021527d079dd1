"""A pull request's commits from the mirrored commit graph (engine/pr_graph.py, issue 14)."""

from __future__ import annotations

import random
import sqlite3

from mirror import Harness

from bbmirror.engine import pr_graph
from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud.generate import generate


def _h(name: str) -> str:
    return (name * 40)[:40]  # a 40-character "hash" whose 12-character prefix is unique


def _graph(edges: dict[str, str]) -> pr_graph.Graph:
    return pr_graph.Graph({_h(c): tuple(_h(p) for p in ps) for c, ps in edges.items()})


def _names(found: list[str] | None) -> set[str] | None:
    return None if found is None else {h[0] for h in found}


def test_merges_both_ways_give_what_git_log_destination_dot_dot_source_gives():
    # main a-b-c-d; feature branches at b: x, y, then merges main's c in (m); PR m -> d.
    graph = _graph({"a": "", "b": "a", "c": "b", "d": "c", "x": "b", "y": "x", "m": "yc"})
    assert _names(pr_graph.pr_commits(graph, _h("m")[:12], _h("d")[:12])) == {"x", "y", "m"}
    # After the merge into main (e = d + m), the PR's destination stays d: the same list.
    graph = _graph({**{"a": "", "b": "a", "c": "b", "d": "c", "x": "b", "y": "x"}, "m": "yc"})
    assert _names(pr_graph.pr_commits(graph, _h("y"), _h("d"))) == {"x", "y"}
    assert pr_graph.pr_commits(graph, _h("d"), _h("d")) == []
    assert pr_graph.pr_commits(graph, _h("b"), _h("d")) == []  # already merged


def test_a_tip_or_history_the_mirror_lacks_means_ask_the_api():
    graph = _graph({"a": "", "b": "a", "x": "b", "y": "x"})
    assert pr_graph.pr_commits(graph, _h("f")[:12], _h("b")[:12]) is None  # not mirrored
    assert pr_graph.pr_commits(graph, _h("y")[:5], _h("b")) is None  # too short to resolve
    broken = pr_graph.Graph({_h("y"): (_h("x"),), _h("b"): (_h("a"),), _h("a"): ()})
    assert pr_graph.pr_commits(broken, _h("y"), _h("b")) is None  # y's parent x is missing


def test_the_graph_of_a_mirror_gives_every_pr_the_list_bitbucket_serves(tmp_path):
    """Against the simulator's own lists, after a sync, random activity and another sync."""
    world = generate(6, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    mutate.random_activity(world, 300, random.Random(6))
    assert harness.sync().outcome == "ok"
    conn = sqlite3.connect(harness.db)
    checked = 0
    for repo in world.repositories.values():
        graph = pr_graph.load(conn, repo.uuid)
        for pr in repo.pullrequests.values():
            found = pr_graph.pr_commits(graph, pr.source_commit[:12], pr.destination_commit[:12])
            if found is None:
                continue  # not mirrored: the API's list is read instead
            assert set(found) == {h for h in pr.commit_hashes if h in repo.commits}, pr.id
            checked += 1
    assert checked > 10


def test_a_parent_cycle_in_stored_data_asks_the_api_and_ends():
    """Real history has no cycle, but a lying server's pages can store one (the replay of real
    Data Center pages did): the walk must end, and answer None for what touches it."""
    graph = pr_graph.Graph({"a" * 40: ("b" * 40,), "b" * 40: ("a" * 40,), "c" * 40: ("c" * 40,)})
    assert graph.cyclic == {"a" * 40, "b" * 40, "c" * 40}
    assert pr_graph.pr_commits(graph, "a" * 40, "c" * 40) is None
    fine = pr_graph.Graph({"d" * 40: ("e" * 40,), "e" * 40: ()})
    assert not fine.cyclic
    assert pr_graph.pr_commits(fine, "d" * 40, "e" * 40) == ["d" * 40]
