"""Bitbucket Cloud's order of work as data, with what each step costs.

Per workspace: the workspace (it checks the credential: no GET /user), its members, projects
and repositories. Per repository: refs (branches and tags in one list), the pull requests and
the issue tracker's lists; then, once every repository's lists are in, the commits the refs
reach and the children of pull requests and issues. The small settings lists (default
reviewers, milestones, versions, components) are read on a cadence, not every run.
"""

from __future__ import annotations

import math
from typing import Any

from bbmirror.engine.plan import Level, Plan, Share, Step, discovery
from bbmirror.engine.runner import Unit, commits_step
from bbmirror.flavours.cloud import cadence
from bbmirror.flavours.cloud.discovery import readable_workspace
from bbmirror.flavours.cloud.pipelines import pipelines_due
from bbmirror.flavours.cloud.plan_deploys import STEPS as DEPLOY_STEPS
from bbmirror.flavours.cloud.streams import CLOUD_STREAMS
from bbmirror.rows import to_utc

PAGE = 100  # the API's largest page
ACTIVITY_PAGE = 50  # pull request activity pages are capped lower
DIFFSTAT_PAGE = 500  # a diffstat page holds up to 500 files (§3.14)
TRACKER = "the repository has an issue tracker not removed upstream (410)"
READABLE = "the credential may read the workspace itself"
SETTINGS = "due: read every settings_every (24 h), on --full and --reconcile (cadence.py)"
EXPORT_JOB = 3  # POST …/issues/export, one poll while it runs, the zip (export_job.py)


def pages(n: int, size: int = PAGE) -> int:
    """A list whose emptiness the API can't announce costs one request even when empty."""
    return max(1, math.ceil(n / size))


def _workspaces(world: Any) -> list[tuple[Any, list[Any]]]:
    repos = list(world.repositories.values())
    return [(ws, [r for r in repos if r.workspace == ws.slug]) for ws in world.workspaces.values()]


def _members(unit: tuple[Any, list[Any]]) -> int:
    return pages(len(unit[0].members))


def _projects(unit: tuple[Any, list[Any]]) -> int:
    return pages(len(unit[0].projects))


def _repositories(unit: tuple[Any, list[Any]]) -> int:
    return pages(len(unit[1]))


def _refs(repo: Any) -> int:
    """Branches and tags in one list, every run: a page per 100 refs."""
    return pages(len(repo.branches) + len(repo.tags))


def _reachable(repo: Any) -> set[str]:
    """The commits the commit stream mirrors: those the branches and tags reach."""
    stack = [*repo.branches.values(), *(t.target for t in repo.tags.values())]
    seen: set[str] = set()
    while stack:
        sha = stack.pop()
        if sha in seen or sha not in repo.commits:
            continue
        seen.add(sha)
        stack.extend(repo.commits[sha].parents)
    return seen


def _pullrequests(repo: Any) -> int:
    """The list, then per PR its statuses (no count says there are none), its diffstat and,
    when its source or destination commit is not mirrored, its commits (pr_children.py).
    Activity and comments come with the feed (``pr_feed``), which is trusted up to its newest
    entry: a PR updated later reads its own lists."""
    total = pages(len(repo.pullrequests))
    mirrored = _reachable(repo)
    top = max((to_utc(a.date) for p in repo.pullrequests.values() for a in p.activity), default="")
    for pr in repo.pullrequests.values():
        total += 1
        if to_utc(pr.updated_on) > top:  # changed after the feed's newest entry: its own lists
            total += pages(len(pr.comments)) if pr.comments else 0
            total += pages(len(pr.activity), ACTIVITY_PAGE)
        if not {pr.source_commit, pr.destination_commit} <= mirrored:
            total += pages(len([h for h in pr.commit_hashes if h in repo.commits]))
        total += _diffstat(repo, pr)
        total += pages(len(pr.tasks))  # tasks: every PR (task_count counts open ones only)
    return total


def _diffstat(repo: Any, pr: Any) -> int:
    """A PR's diffstat (flavours/cloud/pr_size.py): one request per 500 files, at least one."""
    from bbmirror.simulator.cloud.diffstat import pr_changes  # the world's own files

    return max(1, pages(len(pr_changes(repo, pr)), DIFFSTAT_PAGE))


def _insights(repo: Any) -> int:
    """Code insights: a probe of the main branch head; where reports exist, the head and open
    PRs' source commits, each a request plus one annotations list per report."""
    head = repo.branches.get(repo.mainbranch)
    if not repo.reports.get(head):
        return 1 if head else 0
    mirrored = _reachable(repo)
    shas = {p.source_commit for p in repo.pullrequests.values() if p.state == "OPEN"}
    shas = {s for s in shas | {head} if s in mirrored}
    return sum(1 + sum(pages(len(r.annotations)) for r in repo.reports.get(s, [])) for s in shas)


def _insights_pending(repo: Any) -> int:
    """Commits whose reports were PENDING are read again every run (while under a day old,
    insights.py; generated worlds have none, mutations post fresh ones)."""
    return sum(
        1 + sum(pages(len(r.annotations)) for r in made)
        for made in repo.reports.values()
        if any(r.result == "PENDING" for r in made)
    )


def _diffstats(repo: Any) -> int:
    """Every PR's diffstat: what ``--skip pr_diffstat`` saves on a first sync."""
    return sum(_diffstat(repo, pr) for pr in repo.pullrequests.values())


def _feed(repo: Any) -> int:
    """The repository's activity feed, whole (every entry, comments included)."""
    return pages(sum(len(pr.activity) for pr in repo.pullrequests.values()), ACTIVITY_PAGE)


def _issues(repo: Any) -> int:
    """The list; then each issue's three child lists, or (first sync, with admin rights) the
    export job's POST, poll and zip and the child lists of issues that have any children.
    The fewer of the two: the sync can't choose before it knows the tracker, so an empty or
    tiny tracker costs it up to three more, and a credential without admin rights one more
    (the refused POST)."""
    if not repo.has_issues:
        return 0
    each = exported = 0
    for issue in repo.issues.values():
        each += pages(len(issue.comments)) + pages(len(issue.changes))
        each += pages(len(issue.attachments))
        for children in (issue.comments, issue.changes, issue.attachments):
            exported += pages(len(children)) if children else 0
    return pages(len(repo.issues)) + min(each, EXPORT_JOB + exported)


def _statuses_building(repo: Any) -> int:
    """The statuses of each open PR whose source commit is still building (engine/freshness.py
    re-reads those every run)."""
    return sum(
        pr.state == "OPEN"
        and any(s.state == "INPROGRESS" for s in repo.statuses.get(pr.source_commit, ()))
        for pr in repo.pullrequests.values()
    )


def _tracker(repo: Any) -> int:
    return int(bool(repo.has_issues))


PIPELINES = (
    "the repository is not remembered as never having run a pipeline, or settings_every "
    "passed (flavours/cloud/pipelines.py)"
)
REFS = "read with branches, in the same `refs` list (refs.py)"


def _never(engine: Any, unit: Unit) -> bool:
    return False


def settings_due(engine: Any, unit: Unit, name: str) -> bool:
    """Condition: a settings list is due (cadence.py) and, for the tracker's, the tracker is."""
    if name != "default_reviewers" and not tracker_open(engine, unit):
        return False
    return cadence.due(engine, unit.ctx, name)


def tracker_open(engine: Any, unit: Unit) -> bool:
    """Condition: the repository has an issue tracker not remembered as removed (410).

    A removed tracker is asked again only on ``--full`` or ``--reconcile``, once per run (a
    new 410 remembers it again, engine/policy.py); after a 410 the other lists are not asked.
    """
    if not unit.obj.get("has_issues"):
        return False
    if engine.is_removed(unit.ctx):
        if unit.facts.get("tracker_asked") or not (engine.options.full or engine.options.reconcile):
            return False
        engine.forget_removed(unit.ctx)
    unit.facts["tracker_asked"] = True
    return True


WORKSPACE = Level(
    "workspace",
    (
        discovery("workspaces", least=1, hook="workspace_object"),
        *(
            Step(
                name,
                after=("workspaces",),
                when=READABLE,
                holds=readable_workspace,
                noop=cost,
                least=cost,
            )
            for name, cost in (("members", _members), ("projects", _projects))
        ),
        discovery(
            "repositories",
            after=("workspaces",),
            noop=_repositories,
            least=_repositories,
            hook="workspace_repositories",
        ),
    ),
    _workspaces,
    discover="workspace_units",
)

# Every repository's lists before any repository's per-parent children (issue 14: the first
# hour of a first sync shows every pull request and issue; children fill in after).
LISTS = Level(
    "repository lists",
    (
        # One `refs` list carries branches and tags (refs.py); the tags step is that list.
        Step(
            "branches",
            hook="refs_list",
            guard=False,  # refs.py guards the list and says what waits when it fails
            wanted_with=("tags", "commits"),
            noop=_refs,
            least=_refs,
        ),
        Step("tags", when=REFS, holds=_never, noop=0, least=0),
        Step(
            "default_reviewers",
            when=SETTINGS,
            holds=lambda e, u: settings_due(e, u, "default_reviewers"),
            then="settings_read",
            noop=0,
            least=lambda r: pages(len(r.default_reviewers)),
        ),
        # The feed first: it decides which children each changed PR still needs.
        Step("pr_feed", then="feed_read", least=_feed),  # a no-op run reads its first page
        Step(
            "pullrequests",
            after=("pr_feed",),
            part="parents",
            least=lambda r: pages(len(r.pullrequests)),
        ),
        *(
            Step(
                name,
                when=f"{TRACKER}; {SETTINGS}",
                holds=lambda e, u, name=name: settings_due(e, u, name),
                then="settings_read",
                noop=0,
                least=_tracker,
            )
            for name in ("milestones", "versions", "components")
        ),
        Step(
            "issues",
            part="parents",
            when=f"{TRACKER}; a first sync imports the export job first (export_job.py)",
            holds=tracker_open,
            hook="issue_list",
            noop=_tracker,
            least=lambda r: pages(len(r.issues)) if r.has_issues else 0,
        ),
        Step(
            "pipelines",
            hook="pipeline_list",
            when=PIPELINES,
            holds=pipelines_due,
            noop=lambda r: int(bool(r.pipelines)),
            least=lambda r: pages(len(r.pipelines)),
        ),
    ),
    lambda world: world.repositories.values(),
    discover="repository_units",
    enter=("check_renamed",),  # a renamed repository is read again in full
)

DETAILS = Level(
    "repository details",
    (
        commits_step(
            "the repository has refs; only new heads are walked",
            least=lambda r: pages(len(r.commits)),
        ),
        Step(
            "pullrequests",
            part="children",
            when="children queued by the list (open, then recently updated PRs first)",
            noop=_statuses_building,
            least=lambda r: _pullrequests(r) - pages(len(r.pullrequests)),
            shares=(Share("pr_diffstat", least=_diffstats),),  # taken off by --skip
            then="reread_statuses",
        ),
        *DEPLOY_STEPS,  # environments on the settings cadence; deployments (plan_deploys.py)
        Step(
            "insight_reports",
            after=("commits",),
            when="probe the main branch head; where reports exist, new heads (insights.py)",
            hook="read_insights",
            noop=_insights_pending,
            least=_insights,
        ),
        Step(
            "issues",
            part="children",
            when=TRACKER,
            holds=tracker_open,
            noop=0,
            hook="issue_children",
            least=lambda r: _issues(r) - pages(len(r.issues)) if r.has_issues else 0,
        ),
        Step(
            "pipeline_steps",
            hook="pipeline_steps",
            wanted_with=("pipelines",),
            when="runs first seen COMPLETED, queued by the list",
            noop=0,
            least=lambda r: sum(p.state == "COMPLETED" for p in r.pipelines),
        ),
    ),
    lambda world: world.repositories.values(),
    discover="same_units",
    leave=("collect_unreachable", "reconcile"),  # GC when due; --reconcile's id scans
)

CLOUD_PLAN = Plan("cloud", CLOUD_STREAMS, (WORKSPACE, LISTS, DETAILS))
