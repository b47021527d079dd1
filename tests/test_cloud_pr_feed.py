"""Cloud PR children at a fraction of the requests (issue 14): the repository activity feed,
PR commits from the mirrored graph, statuses only when a source commit moves."""

from __future__ import annotations

import random
import re
import sqlite3

from compare import compare
from mirror import BASE, Harness, differences

from bbmirror.engine import Options
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.flavours.cloud.streams import CLOUD_STREAMS
from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud.generate import Size, generate

# Tasks (read with a changed PR that has open ones) are tests/test_tasks_cloud.py's subject.
PER_PR = re.compile(r"/pullrequests/(\d+)/(?!tasks$)(\w+)$")
# One repository whose feed fills several pages (tiny's fill one), a fifth of `small`'s syncs.
LONG_FEED = Size(workspaces=1, users=8, repos=1, prs=40, issues=0, comments=250, commits=120)


def _per_pr(harness: Harness) -> list[tuple[int, str]]:
    """(PR number, list) of every per-PR list the last runs read."""
    return [(int(m[1]), m[2]) for r in harness.log if (m := PER_PR.search(r.path))]


def _with_comments(world):
    return next(
        (repo, pr)
        for repo in world.repositories.values()
        for pr in repo.pullrequests.values()
        if pr.state == "OPEN" and len([c for c in pr.comments if not c.deleted]) >= 2
    )


def _without_trackers(world):
    """The PR economy alone: a tracker's first sync costs what the credential's rights allow
    (the export job needs admin rights; flavours/cloud/plan.py ``_issues``)."""
    for repo in world.repositories.values():
        repo.has_issues = False
        repo.issues.clear()
    return world


def test_the_feed_gives_the_rows_the_per_pr_lists_give(tmp_path):
    """Activity and comments from the feed equal, row by row and JSON included, those of
    each PR's own activity and comments lists; no per-PR activity or comment list is read."""
    world = generate(2, "tiny")
    feed = Harness(world, str(tmp_path / "feed.db"))
    assert feed.sync().outcome == "ok"
    assert [x for x in _per_pr(feed) if x[1] in ("activity", "comments")] == []
    per_pr = Harness(world, str(tmp_path / "per-pr.db"))
    only = frozenset(name for name in CLOUD_STREAMS if name != "pr_feed")
    assert per_pr.sync(Options(only=only)).outcome == "ok"
    assert {kind for _, kind in _per_pr(per_pr)} >= {"activity", "comments"}
    found = compare(per_pr.db, feed.db).differences
    assert [d for d in found if d.table in ("pullrequest_activity", "comments", "users")] == []
    conn = sqlite3.connect(feed.db)
    assert conn.execute("select count(*) from pullrequest_activity").fetchone()[0] > 0
    assert differences(world, feed.db) == []


def test_a_first_sync_costs_what_the_plan_says(tmp_path):
    world = _without_trackers(generate(4, "tiny"))
    harness = Harness(world, str(tmp_path / "m.db"))
    summary = harness.sync()
    assert summary.outcome == "ok"
    assert summary.requests == CLOUD_PLAN.minimum_requests(world)
    assert [x for x in _per_pr(harness) if x[1] == "commits"] == []  # all from the graph


def test_an_approval_reads_only_the_comments_of_that_pr(tmp_path):
    """The feed brings the approval; the source commit did not move: no statuses, commits;
    its comments are as mirrored, so no activity list either."""
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo, pr = _with_comments(world)
    voter = next(u for u in world.users if u not in (pr.author_uuid, *pr.reviewer_uuids))
    mutate.approve_pr(world, repo, pr, voter, random.Random(1))
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert _per_pr(harness) == [(pr.id, "comments")]
    assert differences(world, harness.db) == []


def test_a_push_reads_statuses_and_derives_commits(tmp_path):
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo, pr = _with_comments(world)
    mutate.push_commits(world, repo, pr.source_branch, random.Random(2), n=2)
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert sorted(_per_pr(harness)) == [(pr.id, "comments"), (pr.id, "statuses")]
    assert differences(world, harness.db) == []


def test_an_edited_or_deleted_comment_is_read_again_without_reconcile(tmp_path):
    """No feed entry says so, but the PR's updated_on (edit) or comment_count (delete) does:
    that PR's comments and activity are read again; a deleted comment's entry goes too."""
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo, pr = _with_comments(world)
    replied = {c.parent_id for c in pr.comments}
    alive = [c for c in pr.comments if not c.deleted]
    mutate.edit_comment(world, alive[0], random.Random(3), pr)
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert sorted(_per_pr(harness)) == [(pr.id, "activity"), (pr.id, "comments")]
    assert differences(world, harness.db) == []
    leaf = next(c for c in pr.comments if c.id not in replied and not c.deleted)
    mutate.delete_comment(world, pr, leaf)
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert sorted(_per_pr(harness)) == [(pr.id, "activity"), (pr.id, "comments")]
    assert differences(world, harness.db) == []
    conn = sqlite3.connect(harness.db)
    entry = "select deleted_at is not null from pullrequest_activity where comment_id = ?"
    assert conn.execute(entry, (f"cloud/comment/{leaf.id}",)).fetchone() == (1,)


def test_an_edit_hidden_behind_newer_activity_is_seen_by_the_next_run(tmp_path):
    """An edit followed by a new comment on the same PR: the feed's tail holds only the new
    comment's entry, but the changed PR's comments are read, and as one changed, its
    activity list (whose entry embeds the comment) too."""
    world = generate(3, LONG_FEED)  # the edited comment's entry is far from the feed's head
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo, pr = _with_comments(world)
    edited = next(c for c in pr.comments if not c.deleted)
    entries = sorted(a.date for p in repo.pullrequests.values() for a in p.activity)
    assert len([d for d in entries if d >= edited.created_on]) > 100
    mutate.edit_comment(world, edited, random.Random(4), pr)
    mutate.comment_pr(world, repo, pr, random.Random(5))
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert sorted(_per_pr(harness)) == [(pr.id, "activity"), (pr.id, "comments")]
    assert differences(world, harness.db) == []
    clean = Harness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    found = compare(clean.db, harness.db)
    assert [d for d in found.differences if d.table != "commit_statuses"] == []


def test_a_pr_whose_source_is_not_mirrored_reads_its_commits(tmp_path):
    """A declined PR whose branch was deleted: nothing mirrors its source, so the API lists
    its commits (the fallback), with the same rows."""
    world = _without_trackers(generate(3, "tiny"))
    repo, pr = _with_comments(world)
    mutate.decline_pr(world, repo, pr, random.Random(6))
    others = [p for p in repo.pullrequests.values() if p is not pr]
    assert all(p.source_branch != pr.source_branch for p in others if p.state == "OPEN")
    del repo.branches[pr.source_branch]
    harness = Harness(world, str(tmp_path / "m.db"))
    summary = harness.sync()
    assert summary.outcome == "ok"
    assert [x for x in _per_pr(harness) if x[1] == "commits"] == [(pr.id, "commits")]
    assert summary.requests == CLOUD_PLAN.minimum_requests(world)
    assert differences(world, harness.db) == []


def test_a_renamed_repository_reads_its_feed_again_not_each_pr(tmp_path):
    """Every entry embeds the repository's name: a rename reads the whole feed again (and no
    PR's own activity or comments), equal to a clean sync of the renamed repository."""
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo = max(world.repositories.values(), key=lambda r: len(r.pullrequests))
    mutate.rename_repo(world, repo, repo.slug + "-next", random.Random(1))
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert [x for x in _per_pr(harness) if x[1] in ("activity", "comments")] == []
    clean = Harness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    found = compare(clean.db, harness.db)
    assert found.equal, found.summary()


def test_without_the_feed_a_changed_pr_reads_its_own_lists(tmp_path):
    """The feed failing (a persistent 500) is noted; changed PRs then read their activity and
    comments themselves, and a later run with the feed back converges."""
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo, pr = _with_comments(world)
    mutate.comment_pr(world, repo, pr, random.Random(7))
    feed = f"/2.0/repositories/{repo.full_name}/pullrequests/activity"
    harness.app.state.faults.failing_paths = (feed,)
    harness.log.clear()
    summary = harness.sync()
    assert summary.outcome == "partial"
    assert sorted(x for x in _per_pr(harness) if x[0] == pr.id) == [
        (pr.id, "activity"),
        (pr.id, "comments"),
    ]
    assert differences(world, harness.db) == []
    harness.app.state.faults.failing_paths = ()
    assert harness.sync().outcome == "ok"
    assert differences(world, harness.db) == []


def test_a_feed_out_of_date_order_is_read_whole(tmp_path):
    """The feed's order is undocumented: grouped by PR, its pages are not newest first, so
    the walk cannot stop at the watermark and reads the whole feed; nothing is missed."""
    world = generate(3, LONG_FEED)
    world.settings.feed_by_pr = True
    harness = Harness(world, str(tmp_path / "m.db"))
    assert harness.sync().outcome == "ok"
    repo = max(world.repositories.values(), key=lambda r: len(r.pullrequests))
    oldest = min(repo.pullrequests.values(), key=lambda p: p.id)
    mutate.comment_pr(world, repo, oldest, random.Random(8))
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    feed = [r for r in harness.log if r.path.endswith(f"{repo.full_name}/pullrequests/activity")]
    entries = sum(len(p.activity) for p in repo.pullrequests.values())
    assert len(feed) == -(-entries // 50) > 1  # every page of the feed
    assert differences(world, harness.db) == []


def test_an_expired_resume_link_of_the_feed_starts_it_again(tmp_path):
    """A run killed mid-feed left a resume link; by the next run Bitbucket no longer knows
    its cursor (400): the feed is read again from the top, nothing lost."""
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo, pr = _with_comments(world)
    mutate.comment_pr(world, repo, pr, random.Random(9))
    conn = sqlite3.connect(harness.db)
    stale = f"{BASE}/repositories/{repo.full_name}/pullrequests/activity?pagelen=50&ctx=expired"
    with conn:
        conn.execute(
            "update sync_state set resume = ? where scope = ? and stream = 'pr_feed'",
            (stale, repo.uuid),
        )
    conn.close()
    harness.log.clear()
    summary = harness.sync()
    assert (summary.outcome, summary.errors) == ("ok", 0), summary.message
    assert [r.status for r in harness.log if "ctx=expired" in r.query] == [400]
    assert differences(world, harness.db) == []


def test_a_retitled_pr_reads_its_activity_whose_entries_embed_the_title(tmp_path):
    """Every entry carries its PR's condensed copy (with the title): a new title reads the
    PR's activity again, and the mirror equals a clean sync row by row, JSON included."""
    world = generate(3, "tiny")
    harness = Harness(world, str(tmp_path / "m.db"))
    harness.sync()
    repo, pr = _with_comments(world)
    old = pr.title
    seed = 0
    while pr.title == old:
        mutate.update_pr(world, repo, pr, random.Random(seed), push=False)
        seed += 1
    harness.log.clear()
    assert harness.sync().outcome == "ok"
    assert sorted(_per_pr(harness)) == [(pr.id, "activity"), (pr.id, "comments")]
    clean = Harness(world, str(tmp_path / "clean.db"))
    assert clean.sync().outcome == "ok"
    found = compare(clean.db, harness.db)
    assert [d for d in found.differences if d.table != "commit_statuses"] == []
