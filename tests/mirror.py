"""Test helpers: run bbmirror against the simulator and compare the database with the world.

The world is the ground truth. `expected(world)` says, table by table, which rows must be
alive in the mirror and with which values; `actual(db)` reads the same from SQLite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field

from bbmirror.config import Credentials, Secret, Source
from bbmirror.engine import Options, Summary, sync_sources
from bbmirror.rows import to_utc
from bbmirror.simulator.cloud_api import SimulatorConfig, create_app
from bbmirror.simulator.faults import SimulatorTransport
from bbmirror.simulator.launch import viewer_uuid
from bbmirror.simulator.world import World

SOURCE = "cloud"
TOKEN = "sim-secret-token-0123456789"
BASE = "http://bitbucket.test/2.0"


@dataclass
class Harness:
    """A Cloud world served in-process, and a way to sync it into a database."""

    world: World
    db: str
    faults: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app = self.make_app()
        for name, value in self.faults.items():
            setattr(self.app.state.faults, name, value)

    def make_app(self):
        config = SimulatorConfig(base_url=BASE, tokens={TOKEN: viewer_uuid(self.world)})
        return create_app(self.world, config)

    def source_values(self) -> dict:
        return {
            "name": SOURCE,
            "base_url": BASE,
            "workspaces": sorted(self.world.workspaces),
            "credentials": Credentials(token=Secret(TOKEN)),
        }

    @property
    def log(self) -> list:
        return self.app.state.request_log

    def source(self, **overrides) -> Source:
        values = {"budget": 1_000_000, "reconcile_every": 1_000_000, **self.source_values()}
        return Source(**{**values, **overrides})

    def sync(self, options: Options | None = None, **source_overrides) -> Summary:
        summaries = asyncio.run(
            sync_sources(
                self.db,
                [self.source(**source_overrides)],
                options or Options(),
                transport=SimulatorTransport(self.app),
                client_options={"backoff": 0.001, "max_backoff": 0.01, "retries": 30},
            )
        )
        return summaries[0]


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
            for c in pr.comments:
                exp["comments"][f"{source}/comment/{c.id}"] = _comment(c, key, None, source)
            exp["activity_count"][key] = (len(pr.activity),)
        if not repo.has_issues:
            continue
        for kind, table in (("milestone", repo.milestones), ("version", repo.versions)):
            for item in table.values():
                exp[f"{kind}s"][f"{rid}/{kind}/{item.id}"] = (item.name,)
        for item in repo.components.values():
            exp["components"][f"{rid}/component/{item.id}"] = (item.name,)
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


QUERIES = {
    "workspaces": "select id, slug, name from workspaces",
    "workspace_members": "select id from workspace_members",
    "projects": "select id, key, name from projects",
    "repositories": "select id, slug, full_name, has_issues from repositories",
    "branches": "select id, target_hash from branches",
    "tags": "select id, target_hash from tags",
    "commits": "select id, message, author_raw, parent_count from commits",
    "pullrequests": "select id, title, state, author_id, source_branch, destination_branch,"
    " comment_count, updated_on, draft from pullrequests",
    "pullrequest_participants": "select id, approved, state from pullrequest_participants",
    "pullrequest_commits": "select id from pullrequest_commits",
    "comments": "select id, pullrequest_id, issue_id, coalesce(body, ''), deleted, parent_id"
    " from comments",
    "activity_count": "select pullrequest_id, count(*) from pullrequest_activity",
    "milestones": "select id, name from milestones",
    "versions": "select id, name from versions",
    "components": "select id, name from components",
    "issues": "select id, title, state, kind, priority, assignee_id, updated_on from issues",
    "issue_changes": "select id, user_id from issue_changes",
    "issue_attachments": "select id from issue_attachments",
}


def actual(db: str, source: str = SOURCE, queries: dict[str, str] = QUERIES) -> dict:
    """The alive rows of one source in the mirror, in the shape `expected` uses."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, dict[str, tuple]] = {}
        for name, sql in queries.items():
            sql += (
                " and" if " where " in sql else " where "
            ) + " deleted_at is null and source = ?"
            if name == "activity_count":
                sql += " group by pullrequest_id"
            rows = conn.execute(sql, (source,)).fetchall()
            ids = [r[0] for r in rows]
            assert len(ids) == len(set(ids)), f"duplicate ids in {name}"
            out[name] = {r[0]: tuple(r[1:]) for r in rows}
        return out
    finally:
        conn.close()


def differences(world: World, db: str, limit: int = 5, source: str = SOURCE) -> list[str]:
    """Human-readable differences between the world and the mirror (empty when equal)."""
    exp, got = expected(world, source), actual(db, source)
    problems = []
    for table in QUERIES:
        want, have = exp.get(table, {}), got.get(table, {})
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        for k in missing[:limit]:
            problems.append(f"{table}: missing {k} {want[k]}")
        for k in extra[:limit]:
            problems.append(f"{table}: unexpected {k} {have[k]}")
        for k in wrong[:limit]:
            problems.append(f"{table}: {k} is {have[k]}, world says {want[k]}")
    return problems
