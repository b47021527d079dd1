"""Which rows a correct mirror of a Cloud world holds: the oracle tests and benchmarks share.

The world is the ground truth. ``expected(world)`` says, table by table, which rows must be
alive in the mirror and with which values; ``QUERIES`` read the same from SQLite
(``common.oracle.actual``), and ``differences`` lists where the two disagree.
"""

from __future__ import annotations

from collections import defaultdict

from bbmirror.rows import to_utc
from bbmirror.simulator.cloud import pipelines
from bbmirror.simulator.cloud.deploys import deploys_expected
from bbmirror.simulator.cloud.diffstat import file_row, pr_changes
from bbmirror.simulator.cloud.render import NAMED_PATHS
from bbmirror.simulator.cloud.tasks import expected_tasks
from bbmirror.simulator.cloud.world import World
from bbmirror.simulator.common.oracle import QUERIES, actual, compare

SOURCE = "cloud"


def _t(value: str | None) -> str | None:
    return to_utc(value) if value else None


def expected(world: World, source: str = SOURCE) -> dict[str, dict[str, tuple]]:
    """Every row the mirror must hold alive, keyed by table then id."""
    exp: dict[str, dict[str, tuple]] = defaultdict(dict)
    for ws in world.workspaces.values():
        exp["workspaces"][ws.uuid] = (ws.slug, ws.name)
        for m in ws.members:
            exp["workspace_members"][f"{ws.uuid}/{m.user_uuid}"] = ()  # no permission: 12.7
        for p in ws.projects.values():
            exp["projects"][p.uuid] = (p.key, p.name)
    for repo in world.repositories.values():
        rid = repo.uuid
        exp["repositories"][rid] = (repo.slug, repo.full_name, int(repo.has_issues))
        for name, head in repo.branches.items():
            exp["branches"][f"{rid}/branch/{name}"] = (head,)
        for name, tag in repo.tags.items():
            exp["tags"][f"{rid}/tag/{name}"] = (tag.target,)
        for c in repo.commits.values():
            exp["commits"][f"{rid}/{c.hash}"] = (c.message, c.author_raw, len(c.parents))
        for pr in repo.pullrequests.values():
            key = f"{rid}/pr/{pr.id}"
            exp["pullrequests"][key] = (
                pr.title,
                pr.state,
                pr.author_uuid,
                pr.source_branch,
                pr.destination_branch,
                pr.comment_count,
                _t(pr.updated_on),
                int(pr.draft),
            )
            people = {p.user_uuid: p for p in pr.participants}
            for uuid in {*people, *pr.reviewer_uuids}:
                p = people.get(uuid)
                exp["pullrequest_participants"][f"{key}/{uuid}"] = (
                    int(bool(p and p.approved)),
                    p.state if p else None,
                )
            for h in pr.commit_hashes:
                exp["pullrequest_commits"][f"{key}/{h}"] = ()
            for ch in pr_changes(repo, pr):
                exp["pullrequest_files"][f"{key}/file/{ch.new or ch.old}"] = file_row(pr, ch)
            for c in pr.comments:
                exp["comments"][f"{source}/comment/{c.id}"] = _comment(c, key, None, source)
            exp["activity_count"][key] = (len(pr.activity),)
            exp["pullrequest_tasks"].update(expected_tasks(pr, key, source))
        for uuid in repo.default_reviewers:
            exp["default_reviewers"][f"{rid}/default-reviewer/{uuid}"] = (uuid,)
        pipelines.expect(exp, repo)
        deploys_expected(exp, repo)
        if not repo.has_issues:
            continue
        for kind, table in NAMED_PATHS.items():  # milestones, versions, components
            for item in getattr(repo, table).values():
                exp[table][f"{rid}/{kind}/{item.id}"] = (item.name,)
        for issue in repo.issues.values():
            key = f"{rid}/issue/{issue.id}"
            exp["issues"][key] = (
                issue.title,
                issue.state,
                issue.kind,
                issue.priority,
                issue.assignee_uuid,
                _t(issue.updated_on),
            )
            for c in issue.comments:
                exp["comments"][f"{source}/comment/{c.id}"] = _comment(c, None, key, source)
            for change in issue.changes:
                exp["issue_changes"][f"{key}/change/{change.id}"] = (change.user_uuid,)
            for a in issue.attachments:
                exp["issue_attachments"][f"{key}/attachment/{a.name}"] = ()
    return exp


def _comment(c, pr_key: str | None, issue_key: str | None, source: str) -> tuple:
    parent = f"{source}/comment/{c.parent_id}" if c.parent_id else None
    return (pr_key, issue_key, c.content if not c.deleted else "", int(c.deleted), parent)


def differences(world: World, db: str, limit: int = 5, source: str = SOURCE) -> list[str]:
    """Human-readable differences between the world and the mirror (empty when equal)."""
    return compare(expected(world, source), actual(db, source, QUERIES), QUERIES, limit)
