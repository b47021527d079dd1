"""The checks' shared walker state and the pull-request checks (``invariants.py`` runs them)."""

from __future__ import annotations

import re
from datetime import datetime

from bbmirror.simulator.cloud.issue_fields import bumps_pr
from bbmirror.simulator.cloud.world import (
    ACTIVITY_KINDS,
    PR_STATES,
    Comment,
    PullRequest,
    Repository,
    World,
)
from bbmirror.simulator.common.graph import ancestors

UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
GIT_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
BRACED = re.compile(r"^\{[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}$")
HASH = re.compile(r"^[0-9a-f]{40}$")
CHANGE_FIELDS = (
    "state",
    "kind",
    "priority",
    "title",
    "assignee",
    "assignee_account_id",
    "milestone",
    "version",
    "component",
    "content",
)


class Checks:
    """Collects problems while walking the world once: the shared helpers and comment checks."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.problems: list[str] = []
        self.comment_ids: set[int] = set()
        self.change_ids: set[int] = set()

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def stamp(self, where: str, value: str | None, nullable: bool = False) -> None:
        """A UTC API timestamp: microseconds, +00:00, not after the clock."""
        if value is None:
            if not nullable:
                self.fail(where, "missing timestamp")
            return
        if not UTC_STAMP.match(value):
            self.fail(where, f"bad timestamp {value!r}")
        elif value > self.world.clock:
            self.fail(where, f"{value} is after the clock {self.world.clock}")

    def git_stamp(self, where: str, value: str) -> None:
        """A commit or tag date: own offset, whole seconds, not after the clock."""
        if not GIT_STAMP.match(value):
            self.fail(where, f"bad commit date {value!r}")
        elif datetime.fromisoformat(value) > datetime.fromisoformat(self.world.clock):
            self.fail(where, f"{value} is after the clock {self.world.clock}")

    def span(self, where: str, created: str, updated: str) -> None:
        self.stamp(f"{where}.created_on", created)
        self.stamp(f"{where}.updated_on", updated)
        if created > updated:
            self.fail(where, f"created_on {created} > updated_on {updated}")

    # -- top level --------------------------------------------------------------------------

    def comment_list(self, where: str, comments: list[Comment], floor: str) -> None:
        ids = {c.id for c in comments}
        created = {c.id: c.created_on for c in comments}
        for c in comments:
            cwhere = f"{where} comment {c.id}"
            if c.id in self.comment_ids:
                self.fail(cwhere, "duplicate comment id")
            self.comment_ids.add(c.id)
            self.span(cwhere, c.created_on, c.updated_on)
            if c.created_on < floor:
                self.fail(cwhere, "comment older than its owner")
            if c.user_uuid not in self.world.users:
                self.fail(cwhere, "unknown author")
            if c.deleted and c.content != "":
                self.fail(cwhere, "deleted comment keeps its content")
            if c.parent_id is not None:
                if c.parent_id not in ids:
                    self.fail(cwhere, f"parent {c.parent_id} is not in the thread")
                elif created[c.parent_id] > c.created_on or c.parent_id >= c.id:
                    self.fail(cwhere, "reply older than its parent")
            if c.inline is not None:
                if not isinstance(c.inline.get("path"), str):
                    self.fail(cwhere, "inline without a path")
                if c.inline.get("from") is None and c.inline.get("to") is None:
                    self.fail(cwhere, "inline with neither from nor to")


class PullRequestChecks(Checks):
    """Pull requests: states, merges, participants and their activity."""

    def pull_request(self, repo: Repository, pr: PullRequest, heads: dict[str, set[str]]) -> None:
        where = f"PR {repo.full_name}#{pr.id}"
        world = self.world
        self.span(where, pr.created_on, pr.updated_on)
        if pr.state not in PR_STATES:
            self.fail(where, f"bad state {pr.state!r}")
        if pr.author_uuid not in world.users:
            self.fail(where, "unknown author")
        for name in ("source_commit", "destination_commit"):
            if getattr(pr, name) not in repo.commits:
                self.fail(where, f"{name} {getattr(pr, name)!r} is not a commit")
        for sha in pr.commit_hashes:
            if sha not in repo.commits:
                self.fail(where, f"commit {sha} is gone")
        if pr.commit_hashes and pr.commit_hashes[0] != pr.source_commit:
            self.fail(where, "newest PR commit is not the source commit")
        if pr.state == "OPEN":
            if repo.branches.get(pr.source_branch) != pr.source_commit:
                self.fail(where, "source branch does not point at the source commit")
            if pr.merge_commit or pr.closed_by_uuid:
                self.fail(where, "open PR with merge commit or closer")
        if pr.state == "MERGED":
            self.merged(where, repo, pr, heads)
        if pr.state in ("MERGED", "DECLINED") and pr.closed_by_uuid not in world.users:
            self.fail(where, "closed without closed_by")
        if pr.state != "DECLINED" and pr.reason:
            self.fail(where, "reason on a PR that is not declined")
        self.comment_list(where, pr.comments, pr.created_on)
        self.participants(where, pr)
        self.activity(where, pr)

    def merged(self, where: str, repo: Repository, pr: PullRequest, heads: dict) -> None:
        merge = repo.commits.get(pr.merge_commit or "")
        if merge is None:
            self.fail(where, f"merge commit {pr.merge_commit!r} missing")
            return
        if pr.source_commit not in merge.parents:
            self.fail(where, "merge commit does not have the source commit as a parent")
        head = repo.branches.get(pr.destination_branch)
        if head is None:
            self.fail(where, f"destination branch {pr.destination_branch} missing")
            return
        if head not in heads:
            heads[head] = ancestors(repo.commits, [head])
        if pr.merge_commit not in heads[head]:
            self.fail(where, "merge commit is not reachable from the destination branch")

    def participants(self, where: str, pr: PullRequest) -> None:
        users = [p.user_uuid for p in pr.participants]
        if len(users) != len(set(users)):
            self.fail(where, "duplicate participants")
        if pr.author_uuid in users:
            self.fail(where, "the author is listed as a participant")
        roles = {p.user_uuid: p.role for p in pr.participants}
        for reviewer in pr.reviewer_uuids:
            if roles.get(reviewer) != "REVIEWER":
                self.fail(where, f"reviewer {reviewer} is not a REVIEWER participant")
        last_approval = {a.user_uuid: a.date for a in pr.activity if a.kind == "approval"}
        for p in pr.participants:
            if p.role not in ("PARTICIPANT", "REVIEWER"):
                self.fail(where, f"bad role {p.role!r}")
            if p.approved != (p.state == "approved"):
                self.fail(where, f"participant {p.user_uuid} approved={p.approved} state={p.state}")
            if p.state not in ("approved", "changes_requested", None):
                self.fail(where, f"bad participant state {p.state!r}")
            if p.approved and p.participated_on != last_approval.get(p.user_uuid):
                self.fail(where, f"approver {p.user_uuid} participated_on is not the approval")
            self.stamp(f"{where} participant", p.participated_on, nullable=True)

    def activity(self, where: str, pr: PullRequest) -> None:
        acts = pr.activity
        if not acts or acts[0].kind != "update" or acts[0].date != pr.created_on:
            self.fail(where, "activity does not start with the creating update")
            return
        if acts[0].data.get("state") != "OPEN":
            self.fail(where, "creating update is not OPEN")
        dates = [a.date for a in acts]
        if dates != sorted(dates):
            self.fail(where, "activity is not oldest first")
        updates = [a for a in acts if a.kind == "update"]
        last = updates[-1].data
        if last.get("state") != pr.state:
            self.fail(where, f"last update says {last.get('state')}, PR is {pr.state}")
        if pr.state != "OPEN":
            after = acts[acts.index(updates[-1]) + 1 :]
            if any(a.kind != "comment" for a in after):
                self.fail(where, "only comments may follow the closing update")
        for key in ("title", "description", "source_commit", "destination_commit"):
            if last.get(key) != getattr(pr, key):
                self.fail(where, f"last update's {key} differs from the PR")
        for a in acts:
            if a.kind not in ACTIVITY_KINDS:
                self.fail(where, f"bad activity kind {a.kind!r}")
            self.stamp(f"{where} activity", a.date)
        comment_ids = sorted(a.comment_id for a in acts if a.kind == "comment")  # type: ignore
        if comment_ids != sorted(c.id for c in pr.comments):
            self.fail(where, "comment activity does not match the comments")
        created = {c.id: c.created_on for c in pr.comments}
        for a in acts:
            if a.kind == "comment" and created.get(a.comment_id) != a.date:  # type: ignore
                self.fail(where, f"comment activity {a.comment_id} has the wrong date")
        floor = [pr.created_on] + [a.date for a in acts if bumps_pr(self.world, a.kind)]
        if self.world.settings.comment_bumps_pr:
            floor += [c.updated_on for c in pr.comments]
        if pr.updated_on < max(floor):
            self.fail(where, f"updated_on {pr.updated_on} is before {max(floor)}")
