"""Canned reports and dashboard charts: their numbers equal the simulated world's.

A small world is synced, changed and synced again; every report then runs with the SQL of its
file in bbmirror/reports/, and each figure is recomputed here in Python from the simulator's
world objects (never from the database). Durations are compared to the reports' precision.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasette_dashboards import replace_opts_in_query
from mirror import Harness
from reportrun import report, run, ts

from bbmirror.engine import Options
from bbmirror.reports import FOLDER, ReportError, load_metadata, parse_report, read_report, render
from bbmirror.reports.as_of import reports as generated_reports
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.mutate import random_activity

RESOLVED = {"resolved", "invalid", "duplicate", "wontfix", "closed"}
OPEN_ISSUE = {"new", "open", "on hold", "submitted"}
REVIEW_KINDS = {"approval", "changes_requested", "comment"}
AS_OF = "2026-01-01"
METADATA = load_metadata()
QUERIES = METADATA["databases"]["bitbucket"]["queries"]
DASHBOARDS = METADATA["plugins"]["datasette-dashboards"]


# One xdist worker runs the whole module (scripts/test: --dist loadgroup): one fixture per run.
pytestmark = pytest.mark.xdist_group("reports")


# Session, not module: xdist interleaves modules, and a module fixture is made again each
# time its worker comes back to the module.
@pytest.fixture(scope="session")
def mirror(tmp_path_factory, mirrored):
    """The session's small Cloud mirror, copied, after some activity and a reconciliation."""
    db = str(tmp_path_factory.mktemp("reports") / "bitbucket.db")
    harness = mirrored("cloud", "small").copy(db)
    world = harness.world
    random_activity(world, 80, random.Random(11))
    harness.sync(Options(reconcile=True))
    return SimpleNamespace(world=world, db=db)


# -- the world, computed independently -------------------------------------------------------


def hours(start: str, end: str) -> float:
    return (ts(end) - ts(start)).total_seconds() / 3600


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def in_range(when: str, since: str = "", until: str = "") -> bool:
    day = ts(when).date().isoformat()
    return (not since or day >= since) and (not until or day <= until)


def name(world, uuid: str | None) -> str | None:
    user = world.users.get(uuid) if uuid else None
    return user.display_name if user else uuid


def pull_requests(world, repository: str = ""):
    for repo in world.repositories.values():
        if repository and repo.full_name != repository:
            continue
        for pr in repo.pullrequests.values():
            yield repo, pr


def merged_on(pr) -> str | None:
    if pr.state != "MERGED":
        return None
    dates = [a.date for a in pr.activity if a.kind == "update" and a.data.get("state") == "MERGED"]
    return min(dates, key=ts)


def first_review(pr) -> str | None:
    comments = {c.id for c in pr.comments}
    dates = [
        a.date
        for a in pr.activity
        if a.kind in REVIEW_KINDS
        and a.user_uuid != pr.author_uuid
        and (a.kind != "comment" or a.comment_id in comments)
    ]
    return min(dates, key=ts) if dates else None


def by_month(pairs: list[tuple[str, float]]) -> dict[str, list[float]]:
    months: dict[str, list[float]] = defaultdict(list)
    for when, value in pairs:
        months[ts(when).strftime("%Y-%m")].append(round(value, 2))
    return months


def issues(world, repository: str = ""):
    for repo in world.repositories.values():
        if repo.has_issues and (not repository or repo.full_name == repository):
            for issue in repo.issues.values():
                yield repo, issue


def resolved_on(issue) -> str | None:
    if issue.state not in RESOLVED:
        return None
    moves = [
        ch.created_on
        for ch in issue.changes
        if "state" in ch.changes
        and ch.changes["state"]["new"] in RESOLVED
        and (ch.changes["state"]["old"] or "") not in RESOLVED
    ]
    return max(moves, key=ts) if moves else None


def busiest(world) -> tuple[str, str]:
    """The repository and PR author with the most pull requests (good filter values)."""
    repos = Counter(repo.full_name for repo, _ in pull_requests(world))
    repository = repos.most_common(1)[0][0]
    authors = Counter(name(world, pr.author_uuid) for _, pr in pull_requests(world, repository))
    return repository, authors.most_common(1)[0][0]


def approx(value: float) -> object:
    return pytest.approx(value, abs=0.011)


# -- the shipped metadata itself -------------------------------------------------------------


def test_top_level_metadata_is_generated_from_the_reports_folder():
    top = Path(__file__).resolve().parent.parent / "datasette-metadata.json"
    assert top.read_text(encoding="utf-8") == render(load_metadata())
    files = {p.name: read_report(p)[0] for p in FOLDER.glob("*.sql")}
    files |= {f: parse_report(f, text)[0] for f, text in generated_reports().items()}
    assert [files[name] for name in sorted(files)] == list(QUERIES)
    assert len(QUERIES) == 27  # 22 reports, 4 as-of tables, repository_changes


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-- title: T\n-- description: D\n-- params:\n-- write: true\n\nDELETE FROM t", "write"),
        ("-- title: T\n-- params: repository\n\nSELECT :repository", "lacks description"),
        ("-- title: T\n-- description: D\n-- params:\n\nSELECT :since", "uses ['since']"),
        ("-- title: T\n-- description: D\n-- params: a, b\n\nSELECT :a", "params ['a', 'b']"),
    ],
)
def test_a_report_file_with_wrong_front_matter_is_refused(tmp_path, text, error):
    path = tmp_path / "010-bad.sql"
    path.write_text(text)
    with pytest.raises(ReportError, match=re.escape(error)):
        read_report(path)


def test_every_query_declares_exactly_the_parameters_its_sql_uses():
    for name_, spec in QUERIES.items():
        used = set(re.findall(r"(?<!:):([a-z_]+)", spec["sql"]))
        assert used == set(spec["params"]), name_
        assert spec["title"] and spec["description"], name_
        assert not spec.get("write"), name_


# -- pull requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("filtered", ["nothing", "repository and dates", "author"])
def test_cycle_time_by_month(mirror, filtered):
    world = mirror.world
    repository, author = busiest(world)
    if filtered != "author":
        author = ""
    if filtered != "repository and dates":
        repository = ""
    since, until = ("2025-03-01", "2025-10-31") if repository else ("", "")
    pairs = [
        (merged_on(pr), hours(pr.created_on, merged_on(pr)))
        for _, pr in pull_requests(world, repository)
        if merged_on(pr)
        and (not author or name(world, pr.author_uuid) == author)
        and in_range(merged_on(pr), since, until)
    ]
    want = by_month(pairs)
    rows = report(
        mirror.db, "pr_cycle_time", repository=repository, author=author, since=since, until=until
    )
    assert [r["month"] for r in rows] == sorted(want, reverse=True)
    assert sum(r["merged"] for r in rows) == len(pairs) > 3
    for row in rows:
        values = want[row["month"]]
        assert row["merged"] == len(values)
        assert row["median_hours"] == approx(statistics.median(values))
        assert row["p90_hours"] == approx(p90(values))
        assert row["max_hours"] == approx(max(values))


def test_time_to_first_review_by_month(mirror):
    world = mirror.world
    opened: dict[str, int] = Counter(
        ts(pr.created_on).strftime("%Y-%m") for _, pr in pull_requests(world)
    )
    want = by_month(
        [
            (pr.created_on, hours(pr.created_on, first_review(pr)))
            for _, pr in pull_requests(world)
            if first_review(pr)
        ]
    )
    rows = {r["month"]: r for r in report(mirror.db, "pr_first_review")}
    assert set(rows) == set(opened)
    for month, row in rows.items():
        values = want.get(month, [])
        assert (row["opened"], row["reviewed"]) == (opened[month], len(values))
        if values:
            assert row["median_hours"] == approx(statistics.median(values))
            assert row["p90_hours"] == approx(p90(values))
        else:
            assert row["median_hours"] is None
    assert sum(len(v) for v in want.values()) > 50


def test_review_load_per_reviewer(mirror):
    world = mirror.world
    want: dict[str, Counter] = defaultdict(Counter)
    for _, pr in pull_requests(world):
        parts = {p.user_uuid: p for p in pr.participants}
        for uuid in (set(parts) | set(pr.reviewer_uuids)) - {pr.author_uuid}:
            p = parts.get(uuid)
            reviewer = uuid in pr.reviewer_uuids or (p is not None and p.role == "REVIEWER")
            approved = bool(p and p.approved)
            state = p.state if p else None
            if not (reviewer or approved or state):
                continue
            want[uuid].update(
                assigned=reviewer,
                open_waiting=reviewer and pr.state == "OPEN" and not approved,
                approved=approved,
                changes_requested=state == "changes_requested",
                pull_requests=1,
            )
    rows = report(mirror.db, "review_load")
    assert len(rows) == len(want)
    keys = ("assigned", "open_waiting", "approved", "changes_requested", "pull_requests")
    for row in rows:
        assert tuple(row[k] for k in keys) == tuple(want[row["user_id"]][k] for k in keys)
        assert row["reviewer"] == name(world, row["user_id"])
    assert [r["assigned"] for r in rows] == sorted((r["assigned"] for r in rows), reverse=True)


def test_stale_open_pull_requests(mirror):
    world, as_of = mirror.world, ts(AS_OF + "T00:00:00+00:00")
    for days in ("", "30"):
        limit = float(days or 14)
        want = {
            (repo.full_name, pr.id): (as_of - ts(pr.updated_on)).total_seconds() / 86400
            for repo, pr in pull_requests(world)
            if pr.state == "OPEN" and (as_of - ts(pr.updated_on)).total_seconds() / 86400 >= limit
        }
        rows = report(mirror.db, "stale_pull_requests", days=days, as_of=AS_OF)
        assert {(r["repository"], r["number"]): r["idle_days"] for r in rows} == {
            k: pytest.approx(v, abs=0.051) for k, v in want.items()
        }
        assert [r["updated_on"] for r in rows] == sorted(r["updated_on"] for r in rows)
    assert want


def test_merged_without_approval(mirror):
    world = mirror.world
    want = {
        (repo.full_name, pr.id)
        for repo, pr in pull_requests(world)
        if pr.state == "MERGED"
        and not any(p.approved and p.user_uuid != pr.author_uuid for p in pr.participants)
    }
    rows = report(mirror.db, "merged_without_approval")
    assert {(r["repository"], r["number"]) for r in rows} == want
    assert len(rows) == len(want) > 0


def test_commits_per_author_per_week(mirror):
    world = mirror.world
    commits: Counter = Counter()
    repos: dict[tuple, set] = defaultdict(set)
    for repo in world.repositories.values():
        for c in repo.commits.values():
            day = ts(c.date).date()
            week = (day - timedelta(days=day.weekday())).isoformat()
            raw = re.match(r"^\s*(.*?)\s*<([^<>]*)>\s*$", c.author_raw)
            author = c.author_uuid or raw[1] or raw[2]
            commits[(week, author)] += 1
            repos[(week, author)].add(repo.uuid)
    rows = report(mirror.db, "commits_per_author_week")
    got = {(r["week"], r["author_id"] or r["author"]): r for r in rows}
    assert {k: r["commits"] for k, r in got.items()} == dict(commits)
    assert all(r["repositories"] == len(repos[k]) for k, r in got.items())
    assert all(r["author"] == name(world, r["author_id"]) for r in rows if r["author_id"])
    assert rows[0]["week"] == max(week for week, _ in commits)


# -- issues ----------------------------------------------------------------------------------


def test_issue_backlog(mirror):
    world = mirror.world
    repository = next(r.full_name for r in world.repositories.values() if r.has_issues)
    for repo_filter in ("", repository):
        count, unassigned = Counter(), Counter()
        oldest: dict[tuple, str] = {}
        for _, issue in issues(world, repo_filter):
            key = (issue.state, issue.kind, issue.priority)
            count[key] += 1
            unassigned[key] += issue.assignee_uuid is None
            if key not in oldest or ts(issue.created_on) < ts(oldest[key]):
                oldest[key] = issue.created_on
        rows = report(mirror.db, "issue_backlog", repository=repo_filter)
        got = {(r["state"], r["kind"], r["priority"]): r for r in rows}
        assert {k: r["issues"] for k, r in got.items()} == dict(count)
        assert {k: r["unassigned"] for k, r in got.items()} == dict(unassigned)
        assert all(ts(r["oldest"]) == ts(oldest[k]) for k, r in got.items())


def test_issue_time_to_resolve(mirror):
    world = mirror.world
    pairs = [
        (resolved_on(issue), hours(issue.created_on, resolved_on(issue)) / 24)
        for _, issue in issues(world)
        if resolved_on(issue)
    ]
    want = by_month(pairs)
    rows = report(mirror.db, "issue_time_to_resolve")
    assert sum(r["resolved"] for r in rows) == len(pairs) > 5
    for row in rows:
        values = want[row["month"]]
        assert row["resolved"] == len(values)
        assert row["median_days"] == approx(statistics.median(values))
        assert row["p90_days"] == approx(p90(values))


def test_oldest_open_issues(mirror):
    world, as_of = mirror.world, ts(AS_OF + "T00:00:00+00:00")
    open_ = sorted(
        (
            (ts(i.created_on), repo.full_name, i.id)
            for repo, i in issues(world)
            if i.state in OPEN_ISSUE
        )
    )
    rows = report(mirror.db, "oldest_open_issues", as_of=AS_OF)
    assert [(r["repository"], r["number"]) for r in rows] == [(r, n) for _, r, n in open_][:200]
    assert rows[0]["age_days"] == pytest.approx((as_of - open_[0][0]).days, abs=1)
    bugs = report(mirror.db, "oldest_open_issues", kind="bug", priority="major", as_of=AS_OF)
    assert {r["kind"] for r in bugs} <= {"bug"} and {r["priority"] for r in bugs} <= {"major"}


def test_who_comments_most(mirror):
    world = mirror.world
    since = "2025-06-01"
    want: dict[str, Counter] = defaultdict(Counter)
    threads: dict[str, set] = defaultdict(set)
    owners = [("pr", pr) for _, pr in pull_requests(world)]
    owners += [("issue", issue) for _, issue in issues(world)]
    for kind, owner in owners:
        for c in owner.comments:
            if c.deleted or not in_range(c.created_on, since):
                continue
            who = c.user_uuid
            want[who].update(comments=1, on_pull_requests=kind == "pr", on_issues=kind == "issue")
            threads[who].add((kind, id(owner)))
    rows = report(mirror.db, "top_commenters", since=since)
    assert len(rows) == len(want)
    for row in rows:
        counts = want[row["user_id"]]
        assert (row["comments"], row["on_pull_requests"], row["on_issues"]) == (
            counts["comments"],
            counts["on_pull_requests"],
            counts["on_issues"],
        )
        assert row["threads"] == len(threads[row["user_id"]])
        assert row["commenter"] == name(world, row["user_id"])


# -- sync bookkeeping ------------------------------------------------------------------------


def test_sync_freshness_errors_and_budget(tmp_path):
    """Two runs, the second quarantining two records; figures from the simulator's own log."""
    world = generate(2, "tiny")
    harness = Harness(world, str(tmp_path / "bitbucket.db"))
    first = harness.sync()
    after_first = len(harness.log)
    repo = next(r for r in world.repositories.values() if r.has_issues and r.issues)
    next(iter(repo.issues.values())).created_on = "last tuesday"  # not a timestamp
    next(iter(repo.issues.values())).updated_on = world.tick(60)
    pr_repo = next(r for r in world.repositories.values() if r.pullrequests)
    next(iter(pr_repo.pullrequests.values())).created_on = "soon"
    next(iter(pr_repo.pullrequests.values())).updated_on = world.tick(60)
    second = harness.sync()
    assert (first.outcome, second.outcome) == ("ok", "partial")

    [fresh] = report(harness.db, "sync_freshness", as_of=second.finished_at)
    assert fresh["source"] == "cloud" and fresh["runs"] == 2 and fresh["failed_runs"] == 0
    assert (fresh["last_run_outcome"], fresh["last_run_errors"]) == ("partial", 2)
    assert fresh["last_run_requests"] == len(harness.log) - after_first
    assert fresh["quarantined"] == 2
    assert 0 <= fresh["hours_since_success"] < 0.01

    errors = report(harness.db, "sync_errors_by_stream")
    assert {(r["stream"], r["errors"]) for r in errors} == {("issues", 1), ("pullrequests", 1)}
    assert any("last tuesday" in r["last_reason"] for r in errors)
    assert report(harness.db, "sync_errors_by_stream", source="elsewhere") == []

    budget = report(harness.db, "request_budget", budget="500")
    assert (
        sum(r["requests"] for r in budget) == len(harness.log) == first.requests + second.requests
    )
    assert sum(r["runs"] for r in budget) == 2
    for row in budget:
        assert row["percent_of_budget"] == pytest.approx(100 * row["requests"] / 500, abs=0.05)
    assert report(harness.db, "request_budget", since="2999-01-01") == []

    health = DASHBOARDS["sync-health"]["charts"]
    assert chart(harness.db, health["runs"]) == [{"n": 2}]
    assert chart(harness.db, health["quarantined"]) == [{"n": 2}]
    assert chart(harness.db, health["failed-runs"]) == [{"n": 0}]
    assert sum(r["requests"] for r in chart(harness.db, health["requests"])) == len(harness.log)


# -- dashboards ------------------------------------------------------------------------------


def chart(db: str, spec: dict, **filters: str) -> list[dict]:
    """A chart's rows the way datasette-dashboards fetches them (Datasette: unset params '')."""
    sql = replace_opts_in_query(spec["query"], filters)
    return run(db, sql, **({p: "" for p in re.findall(r"(?<!:):([a-z_]+)", sql)} | filters))


def test_engineering_charts_match_the_world(mirror):
    world = mirror.world
    charts = DASHBOARDS["engineering"]["charts"]
    prs = [pr for _, pr in pull_requests(world)]
    cycles = [round(hours(pr.created_on, merged_on(pr)), 2) for pr in prs if merged_on(pr)]
    reviews = [round(hours(pr.created_on, first_review(pr)), 2) for pr in prs if first_review(pr)]
    open_count = sum(pr.state == "OPEN" for pr in prs)
    assert chart(mirror.db, charts["open-prs"]) == [{"n": open_count}]
    assert chart(mirror.db, charts["merged-prs"]) == [{"n": len(cycles)}]
    [cycle] = chart(mirror.db, charts["median-cycle"])
    assert cycle["hours"] == pytest.approx(statistics.median(cycles), abs=0.051)
    [review] = chart(mirror.db, charts["median-review"])
    assert review["hours"] == pytest.approx(statistics.median(reviews), abs=0.051)
    throughput = Counter()
    for pr in prs:
        throughput[(ts(pr.created_on).strftime("%Y-%m-01"), "opened")] += 1
        if merged_on(pr):
            throughput[(ts(merged_on(pr)).strftime("%Y-%m-01"), "merged")] += 1
    got = {(r["month"], r["event"]): r["prs"] for r in chart(mirror.db, charts["throughput"])}
    assert got == dict(throughput)
    assert sum(r["prs"] for r in chart(mirror.db, charts["open-age"])) == open_count
    trend = chart(mirror.db, charts["cycle-trend"])
    months = by_month(
        [(merged_on(pr), hours(pr.created_on, merged_on(pr))) for pr in prs if merged_on(pr)]
    )
    for row in trend:
        values = months[row["month"][:7]]
        want = statistics.median(values) if row["statistic"] == "median" else p90(values)
        assert row["hours"] == approx(want)


def test_every_chart_runs_with_and_without_filters(mirror):
    repository, _ = busiest(mirror.world)
    filters = {"repository": repository, "date_start": "2024-01-01", "date_end": "2099-12-31"}
    filters |= {"since": "2024-01-01", "until": "2099-12-31"}  # the reports' names (delivery)
    db = mirror.db
    for dashboard in DASHBOARDS.values():
        for name_, spec in dashboard["charts"].items():
            used = {k: v for k, v in filters.items() if f":{k}" in spec["query"]}
            if name_ == "errors-by-stream":  # nothing was quarantined here
                assert chart(db, spec) == chart(db, spec, **used) == []
                continue
            assert chart(db, spec), name_
            assert chart(db, spec, **used), name_
        for flt in dashboard["filters"].values():
            if "query" in flt:
                assert run(db, flt["query"])


def test_filtered_open_prs_chart_counts_one_repository(mirror):
    repository, _ = busiest(mirror.world)
    spec = DASHBOARDS["engineering"]["charts"]["open-prs"]
    want = sum(pr.state == "OPEN" for _, pr in pull_requests(mirror.world, repository))
    assert chart(mirror.db, spec, repository=repository) == [{"n": want}]
    assert json.dumps(spec)  # plain JSON, as Datasette serves it
