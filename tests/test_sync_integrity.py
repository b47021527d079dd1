"""Integrity of the sync engine: work never lost behind an early marker, gaps left by --only
filled, watermarks that cannot be poisoned, walkers that stop on loops, economical commit pages.

Each test drives the real engine against the in-process simulator (or a lying proxy in front
of it) and compares the database with the world.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from dc_mirror import TOKEN as TOKEN_DC
from dc_mirror import DcHarness
from dc_mirror import differences as dc_differences
from dc_mirror import expected as dc_expected
from lying import Killed, Lying, lie_to, own_url
from mirror import Harness, differences
from mirror import expected as cloud_expected

from bbmirror.engine import Options, walk_guard
from bbmirror.simulator.cloud import mutate as cloud_mutate
from bbmirror.simulator.cloud.generate import Size, generate
from bbmirror.simulator.common.serving import RunningApp
from bbmirror.simulator.server import mutate as dc_mutate
from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig, DcFaults
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.store.db import Store

# The garbage-collection query before issue 11.12, the reference the new one must equal: kept
# once, in the benchmark that times the two against each other.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from bench_gc import OLD_SQL as OLD_GC_SQL  # noqa: E402


def _live(db: str, table: str) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        sql = f"select id from {table} where deleted_at is null"
        return {r[0] for r in conn.execute(sql)}
    finally:
        conn.close()


def _commit_requests(harness: Harness, full_name: str) -> list:
    path = f"/2.0/repositories/{full_name}/commits"
    return [r for r in harness.log if r.path == path]


def test_a_long_ref_list_posts_its_refs_but_asks_for_full_pages(tmp_path):
    """More than 40 refs go in a POST form; pagelen must stay in the query string (§ issue 14)."""
    world = generate(3, "tiny")
    repo = next(r for r in world.repositories.values() if len(r.commits) > 41)
    for i, sha in enumerate(sorted(repo.commits)[:42]):
        repo.branches[f"many/{i}"] = sha
    harness = Harness(world, str(tmp_path / "m.db"))
    summary = harness.sync(Options(only=frozenset({"commits"})))
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    walked = _commit_requests(harness, repo.full_name)
    assert [r.method for r in walked] == ["POST"], walked  # one page holds every commit
    assert "pagelen=100" in walked[0].query
    got = sqlite3.connect(harness.db).execute(
        "select count(*) from commits where repository_id = ?", (repo.uuid,)
    )
    assert got.fetchone()[0] == len(repo.commits)


def _tombstoned(db: str) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("select id from commits where deleted_at is not null")}
    finally:
        conn.close()


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_garbage_collection_by_key_ranges_equals_the_prefix_join(tmp_path, flavour, mirrored):
    """Same commits tombstoned as the old quadratic query, for every repository and head set."""
    shared = mirrored(flavour)  # read only: each case works on its own two copies
    assert shared.summary.outcome == "ok"
    conn = sqlite3.connect(shared.db)
    repos = [r[0] for r in conn.execute("select id from repositories")]
    refs = {
        repo: [r[0] for r in conn.execute(
            "select target_hash from branches where repository_id = ? union"
            " select target_hash from tags where repository_id = ?", (repo, repo))]
        for repo in repos
    }  # fmt: skip
    conn.close()
    cases = {"all refs": refs, "one ref": {k: v[:1] for k, v in refs.items()}}
    cases["no ref"] = {k: [] for k in refs}
    found = 0
    for name, heads in cases.items():
        old_db, new_db = str(tmp_path / f"old-{name}.db"), str(tmp_path / f"new-{name}.db")
        for target in (old_db, new_db):
            with sqlite3.connect(shared.db) as source, sqlite3.connect(target) as copy:
                source.backup(copy)
        with Store.open(old_db) as store:
            for repo, tips in heads.items():
                args = {"when": "2026-01-01", "repo": repo, "heads": json.dumps(sorted(tips))}
                with store.transaction():
                    store.conn.execute(OLD_GC_SQL, args)
        with Store.open(new_db) as store:
            for repo, tips in heads.items():
                store.tombstone_unreachable(repo, tips, "2026-01-01")
        assert _tombstoned(new_db) == _tombstoned(old_db), name
        found += len(_tombstoned(new_db))
    assert found  # the cases did reach below the heads: the comparison is not vacuous


@pytest.mark.parametrize("interruption", ["kill", "fail"])
def test_dc_statuses_and_garbage_survive_an_interruption_after_the_commit_walk(
    tmp_path, interruption
):
    """Issue 11.1: tips walked, then the run dies (or every status read fails) before their
    statuses are read and before a force-push's orphans are collected; the next run does both."""
    world = generate_dc(5, "tiny")
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    rng = random.Random(3)
    orphaned = 0
    for repo in world.repositories.values():
        branch = sorted(b for b in repo.branches if b != repo.default_branch)[0]
        old_tip = repo.branches[branch]
        for sha in dc_mutate.push_commits(world, repo, repo.default_branch, rng, n=2):
            dc_mutate.add_build(world, repo, sha, rng)
        for sha in dc_mutate.force_push(world, repo, branch, rng):
            dc_mutate.add_build(world, repo, sha, rng)
        orphaned += f"dc/repo/{repo.id}/{old_tip}" not in dc_expected(world)["commits"]
    assert orphaned  # some force-push left a commit nothing reaches

    def rule(scope):
        if "/rest/build-status/" in scope["path"]:
            return "kill" if interruption == "kill" else 500
        return None

    proxy = lie_to(harness, rule)
    if interruption == "kill":
        with pytest.raises(Killed):
            harness.sync(concurrency=1)
    else:
        assert harness.sync().outcome == "partial"
    proxy.rule = None
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert dc_differences(world, harness.db) == []
    clean = DcHarness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    # Every status a clean mirror reads (those of today's tips) is there; older tips keep theirs.
    assert _live(clean.db, "commit_statuses") <= _live(harness.db, "commit_statuses")


def test_cloud_force_push_orphans_are_collected_after_a_kill_before_collection(tmp_path, mirrored):
    """Issue 11.1 on Cloud: the walk stores the new heads, the run dies reading pull requests
    (before garbage collection); the next run still tombstones the force-pushed commits."""
    shared = mirrored("cloud")
    assert shared.summary.outcome == "ok"
    harness = shared.copy(str(tmp_path / "m.db"))
    world = harness.world
    rng = random.Random(5)
    for repo in world.repositories.values():
        branches = [pr.source_branch for pr in repo.pullrequests.values() if pr.state == "OPEN"]
        for branch in sorted(set(branches))[:2]:
            cloud_mutate.force_push(world, repo, branch, rng)
    assert differences(world, harness.db)  # the mirror is behind: a real test
    dies = lambda scope: "kill" if scope["path"].endswith("/pullrequests") else None  # noqa: E731
    proxy = lie_to(harness, dies)
    with pytest.raises(Killed):
        harness.sync(concurrency=1)
    proxy.rule = None
    summary = harness.sync()
    assert summary.outcome == "ok", summary.message
    assert differences(world, harness.db) == []


def _watermarks(db: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("select watermark from sync_state") if r[0]]
    finally:
        conn.close()


POISON = [
    "yesterday",
    "2026-13-45T00:00:00Z",  # sorts above every real date, as text: it would be the max
    "4102444800",  # epoch seconds as text (2100), likewise
    "2999-01-01T00:00:00+00:00",
    "2026-06-01T00:00:00+00:00",  # ahead of the simulator's clock (its Date), not of ours
]


@pytest.mark.parametrize("poison", POISON)
def test_a_poisoned_updated_on_never_becomes_the_watermark(tmp_path, poison):
    """Issue 11.5 (Cloud): the bad value is mirrored or quarantined, the watermark stays a real
    time no later than the server's clock, and later changes are all seen."""
    world = generate(3, "tiny")
    repo = next(iter(world.repositories.values()))
    pr = min(repo.pullrequests.values(), key=lambda p: p.updated_on)
    original, pr.updated_on = pr.updated_on, poison
    harness = Harness(world, str(tmp_path / "m.db"))
    first = harness.sync()
    assert first.errors == 1  # named in sync_errors, whichever way it failed
    limit = (datetime.fromisoformat(world.clock) + timedelta(minutes=5)).isoformat()
    assert all(datetime.fromisoformat(w).isoformat() <= limit for w in _watermarks(harness.db))
    pr.updated_on = original if poison < "2" else poison
    cloud_mutate.random_activity(world, 40, random.Random(1))
    summary = harness.sync()
    assert summary.outcome in ("ok", "partial"), summary.message
    key = f"{repo.uuid}/pr/{pr.id} "
    assert [d for d in differences(world, harness.db, limit=50) if key not in d] == []


def test_a_far_future_updated_date_does_not_freeze_dc_sync(tmp_path):
    """Issue 11.5 (Data Center): one PR dated in 2999 must not stop later runs seeing changes."""
    world = generate_dc(5, "tiny")
    repo = next(iter(world.repositories.values()))
    pr = next(iter(repo.pull_requests.values()))
    pr.updated = 32503680000000  # 3000-01-01
    harness = DcHarness(world, str(tmp_path / "m.db"))
    assert harness.sync().errors == 1
    limit = datetime.fromtimestamp(world.clock / 1000, UTC) + timedelta(minutes=5)
    assert all(datetime.fromisoformat(w) <= limit for w in _watermarks(harness.db))
    for other in world.repositories.values():  # later changes (no deletions: those need
        for item in other.pull_requests.values():  # a complete list, i.e. --reconcile)
            dc_mutate.comment_pr(world, item, min(world.users), f"later news on {item.id}")
    assert harness.sync().outcome in ("ok", "partial")
    key = f"dc/repo/{repo.id}/pr/{pr.id} "
    assert [d for d in dc_differences(world, harness.db, limit=50) if key not in d] == []


def _self_link(scope, body):
    return {**body, "next": own_url(scope)}


def _creeping_link(scope, body):
    step = int(dict(parse_qsl(scope["query_string"].decode())).get("creep", "0")) + 1
    query = [(k, v) for k, v in parse_qsl(scope["query_string"].decode()) if k != "creep"]
    return {
        **body,
        "next": own_url({**scope, "query_string": urlencode(query).encode()}, creep=step),
    }


@pytest.mark.parametrize("lie", [_self_link, _creeping_link], ids=["self", "creeping"])
@pytest.mark.parametrize("stream", ["pullrequests", "commits"])
def test_a_walker_led_in_circles_stops_names_it_and_moves_on(tmp_path, monkeypatch, stream, lie):
    """Issue 11.6: a `next` that points to itself, or creeps for ever, on the keyset walker's
    fallback and on the commit walker; the walk stops, sync_errors says why, the rest syncs."""
    monkeypatch.setattr(walk_guard, "MAX_PAGES", 40)  # the absurd count, scaled to the test
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    listing = re.compile(rf"/2\.0/repositories/[^/]+/[^/]+/{stream}")  # not PRs' commits
    proxy = lie_to(harness, lambda scope: lie if listing.fullmatch(scope["path"]) else None)
    proxy.runaway = 600  # far more than the world needs (about 100): a walk that never ends
    summary = harness.sync(concurrency=1)
    assert summary.outcome == "partial"
    conn = sqlite3.connect(harness.db)
    reasons = [
        r[0] for r in conn.execute("select reason from sync_errors where stream = ?", (stream,))
    ]
    assert reasons and all("loop" in r or "pages" in r for r in reasons), reasons
    other = "commits" if stream == "pullrequests" else "pullrequests"
    want = {k for k in cloud_expected(world)[other]}
    assert _live(harness.db, other) == want


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_plain_sync_after_only_pullrequests_fills_every_child(tmp_path, flavour, mirrored):
    """Issue 11.2: `--only pullrequests` reads no comments, activity, PR commits or statuses;
    the next plain run must fetch them, without --full."""
    shared = mirrored(flavour, "tiny", seed=5)  # a clean full sync of the same world
    harness = shared.flavour.mirror(shared.seed, shared.size, str(tmp_path / "m.db"))
    compare = shared.flavour.differences
    first = harness.sync(Options(only=frozenset({"pullrequests"})))
    assert first.outcome == "ok", first.message
    assert not _live(harness.db, "comments")  # the gap is real
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert compare(harness.world, harness.db) == []
    assert shared.summary.outcome == "ok"
    for table in ("comments", "pullrequest_activity", "pullrequest_commits", "commit_statuses"):
        assert _live(shared.db, table), table  # the world has some: the comparison is real
        assert _live(harness.db, table) == _live(shared.db, table), table
    again = harness.sync()  # and once filled, a no-op run reads no children again
    assert again.requests == shared.copy(str(tmp_path / "clean.db")).sync().requests


@pytest.mark.slow
def test_dc_sigkill_then_a_plain_rerun_loses_no_status_and_keeps_no_orphan(tmp_path):
    """Issue 11.1 with real kills: `bbmirror sync` killed at random moments after pushes,
    force-pushes and new builds; a plain rerun (no --reconcile) holds every status and live
    commit a clean mirror of the same world holds."""
    world = generate_dc(8, "tiny")
    viewer = world.users[min(world.users)].slug
    rng = random.Random(11)
    db = str(tmp_path / "m.db")

    def make(root: str):
        faults = DcFaults(latency=0.004)  # long enough that kills land mid-sync
        config = DcConfig(base_url=root, tokens={TOKEN_DC: viewer}, faults=faults)
        # Slow status reads: most kills land between a walk and its statuses, where it hurts.
        slow = lambda scope: 0.15 if "/build-status/" in scope["path"] else None  # noqa: E731
        return Lying(create_dc_app(world, config), slow, runaway=10**9)

    with RunningApp(make) as running:
        args = [sys.executable, "-m", "bbmirror", "sync", db, "--server-url", running.root]
        env = {**os.environ, "BITBUCKET_SERVER_TOKEN": TOKEN_DC}
        started = time.monotonic()
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=120)
        duration = time.monotonic() - started
        for trial in range(10):
            with running.app.state.lock:
                for repo in world.repositories.values():
                    branch = rng.choice(sorted(repo.branches))
                    made = dc_mutate.push_commits(world, repo, branch, rng, n=rng.randint(1, 2))
                    others = sorted(b for b in repo.branches if b != repo.default_branch)
                    if others:
                        made += dc_mutate.force_push(world, repo, rng.choice(others), rng)
                    for sha in made:
                        dc_mutate.add_build(world, repo, sha, rng)
            process = subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            time.sleep(rng.uniform(0, duration))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            rerun = subprocess.run(args, env=env, capture_output=True, timeout=120)
            assert rerun.returncode == 0, rerun.stderr.decode()
            clean = str(tmp_path / f"clean-{trial}.db")
            subprocess.run(
                [*args[:4], clean, *args[5:]], env=env, check=True, capture_output=True, timeout=120
            )
            assert _live(clean, "commit_statuses") <= _live(db, "commit_statuses"), trial
            assert _live(db, "commits") == _live(clean, "commits"), trial


def test_dc_statuses_skipped_by_only_are_read_by_the_next_run_that_wants_them(tmp_path, mirrored):
    """`--only commits` walks commits and reads no statuses (it was not asked to); the tips it
    walked stay due, and `--only statuses` (or any run including them) reads them."""
    clean = mirrored("server")
    harness = DcHarness(generate_dc(clean.seed, clean.size), str(tmp_path / "m.db"))
    assert harness.sync(Options(only=frozenset({"commits"}))).outcome == "ok"
    assert not [r for r in harness.log if "/build-status/" in r.path]
    assert not _live(harness.db, "commit_statuses")
    assert harness.sync(Options(only=frozenset({"statuses"}))).outcome == "ok"
    assert clean.summary.outcome == "ok"
    assert _live(clean.db, "commit_statuses") == _live(harness.db, "commit_statuses")


def test_a_backfill_killed_midway_resumes_where_it_stopped(tmp_path):
    """The backfill after `--only pullrequests` is checkpointed like any walk: the children
    queued by the list are read a batch per transaction; killed midway, the rerun reads only
    the children still queued (none that were committed) and the mirror ends equal."""
    world = generate(
        4, Size(workspaces=1, users=10, repos=1, prs=150, issues=0, comments=300, commits=150)
    )
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync(Options(only=frozenset({"pullrequests"}))).outcome == "ok"
    child = re.compile(r"/2\.0/repositories/[^/]+/[^/]+/pullrequests/(\d+)/\w+")
    asked: list[int] = []

    def rule(scope):
        found = child.fullmatch(scope["path"])
        if found:
            asked.append(int(found.group(1)))
            if len(set(asked)) > 40:  # past the first committed batch of parents
                return "kill"
        return None

    proxy = lie_to(harness, rule)
    with pytest.raises(Killed):
        harness.sync(concurrency=1)
    (extra,) = (
        sqlite3.connect(harness.db)
        .execute("select extra from sync_state where stream = 'pullrequests'")
        .fetchone()
    )
    queued = {int(pid.rsplit("/", 1)[1]) for pid in json.loads(extra)["due"]}
    done = set(asked) - queued
    assert len(done) >= 25 and len(queued) > 100  # a batch committed, the rest still queued
    asked.clear()
    proxy.rule = lambda scope: (
        asked.append(int(m.group(1)))
        if (m := child.fullmatch(scope["path"])) and not m.group(0).endswith("/statuses")
        else None
    )  # statuses of open PRs still building are read again every run (freshness.py)
    assert harness.sync().outcome == "ok"
    assert not set(asked) & done  # what was committed is not read again
    assert set(asked) <= queued
    assert differences(world, harness.db) == []
