"""Check that a world is internally consistent; generator and mutations must keep this empty.

Each problem is one readable line naming the object, so a failing property test says what broke.
The rules follow the reference (change-log strings, activity order, reachability) and the
choices in docs/simulator.md ("World generation and mutations").
"""

from __future__ import annotations

import re
from datetime import datetime

from bbmirror.simulator.cloud.issue_fields import bumps_pr, issue_field_strings
from bbmirror.simulator.cloud.world import (
    ACTIVITY_KINDS,
    ISSUE_KINDS,
    ISSUE_PRIORITIES,
    ISSUE_STATES,
    PR_STATES,
    STATUS_STATES,
    Comment,
    Issue,
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


class _Checker:
    """Collects problems while walking the world once."""

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

    def run(self) -> list[str]:
        world = self.world
        if not UTC_STAMP.match(world.clock):
            self.fail("world", f"bad clock {world.clock!r}")
        account_ids: set[str] = set()
        for key, user in world.users.items():
            where = f"user {user.nickname}"
            if key != user.uuid or not BRACED.match(user.uuid):
                self.fail(where, f"bad uuid {user.uuid!r}")
            if user.account_id in account_ids:
                self.fail(where, f"duplicate account_id {user.account_id}")
            account_ids.add(user.account_id)
            self.stamp(f"{where}.created_on", user.created_on)
        for slug, ws in world.workspaces.items():
            where = f"workspace {slug}"
            if slug != ws.slug:
                self.fail(where, "keyed by the wrong slug")
            self.span(where, ws.created_on, ws.updated_on)
            for m in ws.members:
                if m.user_uuid not in world.users:
                    self.fail(where, f"member {m.user_uuid} is no user")
                if m.permission not in ("owner", "member", "collaborator"):
                    self.fail(where, f"bad permission {m.permission!r}")
                self.stamp(f"{where} member added_on", m.added_on)
            for key, project in ws.projects.items():
                if key != project.key:
                    self.fail(where, f"project keyed {key} has key {project.key}")
                self.span(f"{where} project {key}", project.created_on, project.updated_on)
        slugs: set[tuple[str, str]] = set()
        for key, repo in world.repositories.items():
            if key != repo.uuid or not BRACED.match(repo.uuid):
                self.fail(f"repo {repo.full_name}", f"bad uuid {repo.uuid!r}")
            if (repo.workspace, repo.slug) in slugs:
                self.fail(f"repo {repo.full_name}", "duplicate slug in workspace")
            slugs.add((repo.workspace, repo.slug))
            self.repository(repo)
        if self.comment_ids and world.next_comment_id <= max(self.comment_ids):
            self.fail("world", "next_comment_id is not above every comment id")
        if self.change_ids and world.next_comment_id <= max(self.change_ids):
            self.fail("world", "next_comment_id is not above every change id")
        if set(self.change_ids) & set(self.comment_ids):
            self.fail("world", "a change id is also a comment id")
        return self.problems

    # -- repositories and commits -----------------------------------------------------------

    def repository(self, repo: Repository) -> None:
        where = f"repo {repo.full_name}"
        if repo.workspace not in self.world.workspaces:
            self.fail(where, "unknown workspace")
        self.span(where, repo.created_on, repo.updated_on)
        if repo.mainbranch not in repo.branches:
            self.fail(where, f"main branch {repo.mainbranch} missing")
        self.commits(repo)
        for name, head in repo.branches.items():
            if head not in repo.commits:
                self.fail(where, f"branch {name} points at unknown {head}")
        for name, tag in repo.tags.items():
            if name != tag.name or tag.target not in repo.commits:
                self.fail(where, f"tag {name} is broken")
            if tag.date is not None:
                self.git_stamp(f"{where} tag {name}", tag.date)
        for sha, statuses in repo.statuses.items():
            if sha not in repo.commits:
                self.fail(where, f"statuses on unknown commit {sha}")
            keys = [s.key for s in statuses]
            if len(keys) != len(set(keys)):
                self.fail(where, f"duplicate status keys on {sha}")
            for s in statuses:
                if s.state not in STATUS_STATES:
                    self.fail(where, f"bad status state {s.state!r}")
                self.span(f"{where} status {s.key}", s.created_on, s.updated_on)
        self.unreachable(repo)
        for number, issue in repo.issues.items():
            if number != issue.id or not 0 < number <= repo.last_issue_id:
                self.fail(where, f"issue keyed {number} has id {issue.id}")
            self.issue(repo, issue)
        heads: dict[str, set[str]] = {}
        for number, pr in repo.pullrequests.items():
            if number != pr.id:
                self.fail(where, f"PR keyed {number} has id {pr.id}")
            self.pull_request(repo, pr, heads)

    def commits(self, repo: Repository) -> None:
        where = f"repo {repo.full_name}"
        seen: dict[str, datetime] = {}
        for sha, commit in repo.commits.items():
            if sha != commit.hash or not HASH.match(sha):
                self.fail(where, f"bad commit hash {sha!r}")
            self.git_stamp(f"{where} commit {sha[:12]}", commit.date)
            moment = datetime.fromisoformat(commit.date)
            for parent in commit.parents:
                if parent not in seen:
                    self.fail(where, f"commit {sha[:12]} comes before its parent {parent[:12]}")
                elif seen[parent] > moment:
                    self.fail(where, f"commit {sha[:12]} is older than its parent")
            if commit.author_uuid is not None and commit.author_uuid not in self.world.users:
                self.fail(where, f"commit {sha[:12]} by unknown user")
            seen[sha] = moment

    def unreachable(self, repo: Repository) -> None:
        """Every commit is reachable from a branch, a tag or a pull request (see docs)."""
        reachable = ancestors(repo.commits, roots(repo))
        lost = [sha for sha in repo.commits if sha not in reachable]
        if lost:
            self.fail(f"repo {repo.full_name}", f"{len(lost)} unreachable commits, e.g. {lost[0]}")

    # -- issues -----------------------------------------------------------------------------

    def issue(self, repo: Repository, issue: Issue) -> None:
        where = f"issue {repo.full_name}#{issue.id}"
        world = self.world
        self.span(where, issue.created_on, issue.updated_on)
        if issue.state not in ISSUE_STATES:
            self.fail(where, f"bad state {issue.state!r}")
        if issue.kind not in ISSUE_KINDS:
            self.fail(where, f"bad kind {issue.kind!r}")
        if issue.priority not in ISSUE_PRIORITIES:
            self.fail(where, f"bad priority {issue.priority!r}")
        if issue.reporter_uuid not in world.users:
            self.fail(where, "unknown reporter")
        if issue.assignee_uuid is not None and issue.assignee_uuid not in world.users:
            self.fail(where, "unknown assignee")
        for name in ("milestone", "version", "component"):
            value = getattr(issue, f"{name}_id")
            if value is not None and value not in getattr(repo, f"{name}s"):
                self.fail(where, f"unknown {name} {value}")
        if issue.votes < 0:
            self.fail(where, "negative votes")
        if len(set(issue.watcher_uuids)) != len(issue.watcher_uuids):
            self.fail(where, "duplicate watchers")
        self.change_log(where, repo, issue)
        self.comment_list(where, issue.comments, issue.created_on)
        names = [a.name for a in issue.attachments]
        if len(names) != len(set(names)):
            self.fail(where, "duplicate attachment names")
        stamps = [a.created_on for a in issue.attachments]
        if stamps != sorted(stamps):
            self.fail(where, "attachments not in upload order")
        for a in issue.attachments:
            self.stamp(f"{where} attachment {a.name}", a.created_on)
        floor = [issue.created_on, *(c.created_on for c in issue.changes)]
        if world.settings.comment_bumps_issue:
            floor += [c.updated_on for c in issue.comments]
        if world.settings.attachment_bumps_issue:
            floor += [a.created_on for a in issue.attachments]
        if issue.updated_on < max(floor):
            self.fail(where, f"updated_on {issue.updated_on} is before {max(floor)}")

    def change_log(self, where: str, repo: Repository, issue: Issue) -> None:
        """Each change's old equals the previous new; the last new equals the current value."""
        current = issue_field_strings(self.world, repo, issue)
        last_new: dict[str, str] = {}
        previous = issue.created_on
        last_content: str | None = None
        for change in issue.changes:
            cwhere = f"{where} change {change.id}"
            if change.id in self.change_ids:
                self.fail(cwhere, "duplicate change id")
            self.change_ids.add(change.id)
            self.stamp(f"{cwhere}.created_on", change.created_on)
            if change.created_on < previous:
                self.fail(cwhere, "changes out of order")
            previous = change.created_on
            if not change.changes:
                self.fail(cwhere, "empty change")
            for name, pair in change.changes.items():
                if name not in CHANGE_FIELDS:
                    self.fail(cwhere, f"unknown field {name!r}")
                    continue
                old, new = pair.get("old"), pair.get("new")
                if not isinstance(old, str) or not isinstance(new, str):
                    self.fail(cwhere, f"{name} old/new are not strings")
                    continue
                if old == new:
                    self.fail(cwhere, f"{name} did not change")
                if name in last_new and last_new[name] != old:
                    self.fail(
                        cwhere, f"{name}.old {old[:40]!r} != previous {last_new[name][:40]!r}"
                    )
                last_new[name] = new
                if name == "content":
                    last_content = change.created_on
        for name, value in last_new.items():
            if current[name] != value:
                self.fail(
                    where, f"{name} is {current[name][:40]!r}, change log says {value[:40]!r}"
                )
        if issue.edited_on != last_content:
            self.fail(where, f"edited_on {issue.edited_on} != last content change {last_content}")

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

    # -- pull requests ----------------------------------------------------------------------

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


def roots(repo: Repository) -> list[str]:
    """What keeps commits alive: branches, tags, and every PR's source, target and merge."""
    found = list(repo.branches.values()) + [t.target for t in repo.tags.values()]
    for pr in repo.pullrequests.values():
        found += [pr.source_commit, pr.destination_commit]
        if pr.merge_commit:
            found.append(pr.merge_commit)
    return found


def check_invariants(world: World) -> list[str]:
    """Every inconsistency found in the world, one line each; empty means consistent."""
    return _Checker(world).run()
