"""Check that a world is internally consistent; generator and mutations must keep this empty.

Each problem is one readable line naming the object, so a failing property test says what broke.
The rules follow the reference (change-log strings, activity order, reachability) and the
choices in docs/simulator.md ("World generation and mutations").
"""

from __future__ import annotations

from datetime import datetime

from bbmirror.simulator.cloud.invariants_pr import (
    BRACED,
    CHANGE_FIELDS,
    HASH,
    UTC_STAMP,
    PullRequestChecks,
)
from bbmirror.simulator.cloud.issue_fields import issue_field_strings
from bbmirror.simulator.cloud.world import (
    ISSUE_KINDS,
    ISSUE_PRIORITIES,
    ISSUE_STATES,
    STATUS_STATES,
    Issue,
    Repository,
    World,
)
from bbmirror.simulator.common.graph import ancestors


class _Checker(PullRequestChecks):
    """Walks the world once: workspaces, repositories, commits and issues (PRs in the base)."""

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
