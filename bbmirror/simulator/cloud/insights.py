"""Code insights in the simulated Cloud: reports and annotations on commits.

Shapes: Bitbucket's current Cloud OpenAPI (``swagger.v3.json``, schemas ``report``,
``report_annotation``, ``report_data``; read through a generated TypeScript copy found with
the search tool; bitbucket-cloud.md §3.21 names the endpoints): a report has ``uuid``,
``external_id``, ``title``, ``details``, ``report_type`` (SECURITY, COVERAGE, TEST, BUG),
``reporter``, ``link``, ``result`` (PASSED, FAILED, PENDING), ``data`` (up to 10
``{title, type, value}``), ``created_on``, ``updated_on``; an annotation ``uuid``,
``external_id``, ``annotation_type`` (VULNERABILITY, CODE_SMELL, BUG), ``path``, ``line``,
``summary``, ``details``, ``severity`` (CRITICAL, HIGH, MEDIUM, LOW), ``result`` (PASSED,
FAILED, SKIPPED, IGNORED), ``created_on``, ``updated_on``.

Choices where the reference is silent (docs/simulator.md):

- ``GET …/commit/{hash}/reports`` and ``…/reports/{id}/annotations`` are paged lists (by
  creation); ``{id}`` is the report's uuid or external id; an unknown commit or report is a 404.
- Realistic density: one repository in a world of up to three, two in larger ones, posts
  reports (an rng of its own, ``insights/{first repository uuid}``): on the main branch head
  and on the source commit of every open pull request, one to three reports each (a tool
  per report type), annotations on SECURITY and BUG reports and on failed TEST reports.
"""

from __future__ import annotations

import random

from bbmirror.rows import to_utc
from bbmirror.simulator.cloud.call import ApiError
from bbmirror.simulator.cloud.insight_model import Annotation, InsightReport
from bbmirror.simulator.cloud.world import Repository, World
from bbmirror.simulator.common.clock import HOUR, MINUTE, iso, to_us
from bbmirror.simulator.common.oracle import actual, compare
from bbmirror.simulator.common.pools import PATHS, new_uuid

TOOLS = {  # report_type -> (title, reporter)
    "TEST": ("Unit tests", "Bitbucket Pipelines"),
    "COVERAGE": ("Coverage", "Codecov"),
    "SECURITY": ("Dependency scan", "Snyk"),
    "BUG": ("Static analysis", "SonarCloud"),
}
KINDS = {"SECURITY": "VULNERABILITY", "BUG": "CODE_SMELL", "TEST": "BUG"}
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


def insight_repositories(world: World) -> list[Repository]:
    """The repositories whose CI posts reports (see the module docstring)."""
    repos = sorted(world.repositories.values(), key=lambda r: r.uuid)
    if not repos:
        return []
    rng = random.Random(f"insights/{repos[0].uuid}")
    return rng.sample(repos, 1 if len(repos) <= 3 else 2)


def generate_insights(world: World) -> None:
    """Reports on the main branch head and open PRs' source commits of the chosen repositories."""
    for repo in insight_repositories(world):
        rng = random.Random(f"insights/{repo.uuid}")
        for sha in sorted(candidates(repo)):
            for kind in rng.sample(sorted(TOOLS), rng.randint(1, 3)):
                made = make_report(rng, repo, sha, kind, to_us(repo.commits[sha].date))
                repo.reports.setdefault(sha, []).append(made)


def candidates(repo: Repository) -> set[str]:
    """The commits a mirror asks about: the main branch head and open PRs' source commits."""
    found = {repo.branches.get(repo.mainbranch)}
    found |= {p.source_commit for p in repo.pullrequests.values() if p.state == "OPEN"}
    return found & reachable(repo)  # a deleted branch's commits are not mirrored


def reachable(repo: Repository) -> set[str]:
    """The commits a mirror holds: those its branches and tags reach."""
    stack = [*repo.branches.values(), *(t.target for t in repo.tags.values())]
    seen: set[str] = set()
    while stack:
        sha = stack.pop()
        if sha in repo.commits and sha not in seen:
            seen.add(sha)
            stack.extend(repo.commits[sha].parents)
    return seen


def make_report(
    rng: random.Random, repo: Repository, sha: str, kind: str, at: int, result: str = ""
) -> InsightReport:
    """One tool's report on a commit, with its annotations."""
    result = result or rng.choices(("PASSED", "FAILED"), (2, 1))[0]
    title, reporter = TOOLS[kind]
    when = iso(at + rng.randint(MINUTE, HOUR))
    report = InsightReport(
        uuid=new_uuid(rng),
        external_id=f"{reporter.lower().replace(' ', '-')}-{sha[:12]}",
        title=title,
        report_type=kind,
        reporter=reporter,
        result=result,
        created_on=when,
        updated_on=when,
        details=f"{title} of {sha[:7]}",
        link=f"https://ci.example.com/{repo.slug}/{sha[:12]}/{kind.lower()}",
        data=[{"title": "Duration", "type": "DURATION", "value": rng.randint(5_000, 900_000)}],
    )
    if kind in KINDS and (kind != "TEST" or result == "FAILED"):
        for n in range(rng.randint(0, 4)):
            report.annotations.append(
                Annotation(
                    uuid=new_uuid(rng),
                    external_id=f"{report.external_id}-{n + 1}",
                    annotation_type=KINDS[kind],
                    path=rng.choice(PATHS),
                    line=rng.randint(1, 400),
                    summary=f"{KINDS[kind].replace('_', ' ').lower()} found",
                    severity=rng.choice(SEVERITIES),
                    result="FAILED" if result == "FAILED" else "PASSED",
                    created_on=when,
                    updated_on=when,
                )
            )
    return report


# -- rendering and handlers -------------------------------------------------------------------


def _fields(model: object, names: str) -> dict:
    """The named attributes, in the API's order (the model and the API name them alike)."""
    return {name: getattr(model, name) for name in names.split()}


def render_report(r: InsightReport) -> dict:
    return {
        "type": "report",
        **_fields(r, "uuid external_id title details report_type reporter link result"),
        "data": [dict(d) for d in r.data],
        "remote_link_enabled": False,
        **_fields(r, "created_on updated_on"),
    }


ANNOTATION_FIELDS = (
    "uuid external_id annotation_type path line summary details severity result created_on"
    " updated_on"
)


def render_annotation(a: Annotation) -> dict:
    return {"type": "report_annotation", **_fields(a, ANNOTATION_FIELDS)}


def _reports_of(c) -> list[InsightReport]:
    repo = c.repo()
    sha = c.params["hash"]
    if sha not in repo.commits:
        raise ApiError(404, "Commit not found")
    return repo.reports.get(sha, [])


def reports(c):  # c: call.Call
    """``GET …/commit/{hash}/reports``."""
    return c.page(_reports_of(c), render_report)


def annotations(c):
    """``GET …/commit/{hash}/reports/{id}/annotations`` (``id``: uuid or external id)."""
    wanted = c.params["rid"]
    for r in _reports_of(c):
        if wanted in (r.uuid, r.external_id):
            return c.page(r.annotations, render_annotation)
    raise ApiError(404, "Report not found")


# -- mutations and the oracle -----------------------------------------------------------------


def add_report(world: World, repo: Repository, sha: str, rng: random.Random, result: str = ""):
    """A CI tool posts a report on a commit (a kind it has not posted there yet)."""
    have = {r.report_type for r in repo.reports.get(sha, [])}
    kind = rng.choice(sorted(set(TOOLS) - have) or sorted(TOOLS))
    made = make_report(rng, repo, sha, kind, to_us(world.tick()), result)
    repo.reports.setdefault(sha, []).append(made)
    return made


def finish_report(world: World, report: InsightReport, result: str) -> None:
    """A PENDING report is updated with its result."""
    report.result, report.updated_on = result, world.tick()


# Which commits a mirror reads depends on when it ran (the heads of the time), like build
# statuses: so these rows are not in the protocol-wide oracle (common/oracle.py QUERIES), and
# tests compare them where the history is known (tests/test_insights.py).
QUERIES = {
    "insight_reports": "select id, commit_hash, report_type, result, updated_on"
    " from insight_reports",
    "insight_annotations": "select id, report_id, severity from insight_annotations",
}


def insight_differences(world: World, db: str, source: str = "cloud") -> list[str]:
    """Where the mirror's code insights differ from every report the world holds."""
    want: dict[str, dict[str, tuple]] = {"insight_reports": {}, "insight_annotations": {}}
    for repo in world.repositories.values():
        for table, rows in expected_insights(repo).items():
            want[table].update(rows)
    return compare(want, actual(db, source, QUERIES), QUERIES)


def expected_insights(repo: Repository) -> dict[str, dict[str, tuple]]:
    """``insight_reports`` and ``insight_annotations`` rows of one repository: reports on
    commits the mirror holds (every one the world gave reports was a head or an open PR's
    source when it got them)."""
    out: dict[str, dict[str, tuple]] = {"insight_reports": {}, "insight_annotations": {}}
    if not repo.reports:
        return out
    mirrored = reachable(repo)  # an unreachable commit's rows are collected with it
    for sha, made in repo.reports.items():
        if sha not in mirrored:
            continue
        for r in made:
            key = f"{repo.uuid}/{sha}/report/{r.uuid}"
            out["insight_reports"][key] = (sha, r.report_type, r.result, to_utc(r.updated_on))
            for a in r.annotations:
                out["insight_annotations"][f"{key}/annotation/{a.uuid}"] = (key, a.severity)
    return out
