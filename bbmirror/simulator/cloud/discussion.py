"""Cloud world generation, part two: pull requests, comment threads and issues."""

from __future__ import annotations

from bbmirror.simulator.cloud.history import History, _PrPlan, member_uuids
from bbmirror.simulator.cloud.issue_fields import (
    apply_issue_fields,
    bumps_pr,
    issue_changes,
    issue_updated_on,
    random_issue_fields,
)
from bbmirror.simulator.cloud.world import (
    ISSUE_KINDS,
    ISSUE_PRIORITIES,
    Activity,
    Attachment,
    Comment,
    Issue,
    IssueChange,
    Named,
    Participant,
    PullRequest,
    Repository,
)
from bbmirror.simulator.common.clock import HOUR, LAST_US, iso, to_us
from bbmirror.simulator.common.pools import (
    ATTACHMENT_NAMES,
    PATHS,
    REASONS,
    long_markdown,
    markdown,
    short_markdown,
    title,
    voters,
)


class Discussion(History):
    """Pull requests with their activity, comment threads, and issues with their changes."""

    def pull_requests(
        self, repo: Repository, plans: list[_PrPlan], comment_counts: list[int]
    ) -> None:
        for plan, n_comments in zip(plans, comment_counts, strict=True):
            repo.pullrequests[plan.id] = self.pull_request(repo, plan, n_comments)
            # Unmerged PRs keep their branch; so do merges with close_source_branch=False.
            if plan.state != "MERGED" or plan.id % 3 == 0:
                repo.branches[plan.branch] = plan.commits[-1]

    def pull_request(self, repo: Repository, plan: _PrPlan, n_comments: int) -> PullRequest:
        rng = self.rng
        members = member_uuids(self.world, repo)
        description = markdown(rng, rng.randint(0, 3)) if rng.random() < 0.8 else ""
        if rng.random() < 0.003:
            description = long_markdown(rng)
        pr = PullRequest(
            id=plan.id,
            title=plan.titles[-1],
            description=description,
            state=plan.state,
            author_uuid=plan.author,
            source_branch=plan.branch,
            source_commit=plan.commits[-1],
            destination_branch=repo.mainbranch,
            destination_commit="",
            created_on=iso(plan.t_open),
            updated_on=iso(plan.t_open),
            merge_commit=plan.merge,
            closed_by_uuid=None,
            reason="",
            close_source_branch=plan.state == "MERGED" and plan.id % 3 != 0,
            task_count=rng.choice((0, 0, 0, 0, 1, 2)),
            reviewer_uuids=list(plan.reviewers),
            commit_hashes=list(reversed(plan.commits)),
            draft=plan.state == "OPEN" and plan.id % 5 == 0,  # no draw: seeds keep their worlds
        )
        if plan.state == "MERGED":
            pr.closed_by_uuid = plan.closed_by
        elif plan.state == "DECLINED":
            pr.closed_by_uuid = self.closer(plan)
            pr.reason = rng.choice(REASONS)

        def snapshot(state: str, title_: str, src: str, dest: str) -> dict:
            return {
                "state": state,
                "title": title_,
                "description": description,
                "reason": pr.reason if state == "DECLINED" else "",
                "source_commit": src,
                "destination_commit": dest,
                "source_branch": plan.branch,
                "destination_branch": repo.mainbranch,
            }

        middle: list[Activity] = []
        title_index, dest = 0, plan.open_dest
        for t, kind, src, snap_dest in plan.snaps:
            title_index += kind == "edit"
            dest = snap_dest
            data = snapshot("OPEN", plan.titles[title_index], src, dest)
            middle.append(Activity("update", iso(t), plan.author, data=data))

        participants = {r: Participant(r, "REVIEWER") for r in plan.reviewers}
        last_seen: dict[str, int] = {}
        pr.comments = self.comment_thread(
            n_comments, plan.t_open, plan.t_end, [plan.author, *plan.reviewers], members, True
        )
        for c in pr.comments:
            middle.append(Activity("comment", c.created_on, c.user_uuid, comment_id=c.id))
            if c.user_uuid != plan.author:
                participants.setdefault(c.user_uuid, Participant(c.user_uuid, "PARTICIPANT"))
                last_seen[c.user_uuid] = to_us(c.created_on)
        approve_p = 0.8 if plan.state == "MERGED" else 0.3
        for voter in voters(rng, plan.reviewers, members, plan.author):
            part = participants.setdefault(voter, Participant(voter, "PARTICIPANT"))
            t = rng.randint(plan.t_open + 1, plan.t_end - 1)
            if rng.random() < 0.15:
                middle.append(Activity("changes_requested", iso(t), voter))
                part.state = "changes_requested"
                last_seen[voter] = max(last_seen.get(voter, 0), t)
                t = rng.randint(t, plan.t_end - 1)
            if rng.random() < approve_p:
                middle.append(Activity("approval", iso(t), voter))
                part.approved, part.state = True, "approved"
                part.participated_on = iso(t)
        for uuid_, part in participants.items():
            if not part.approved and uuid_ in last_seen:
                part.participated_on = iso(last_seen[uuid_])
        pr.participants = list(participants.values())

        middle.sort(key=lambda a: a.date)
        first = Activity(
            "update",
            pr.created_on,
            plan.author,
            data=snapshot("OPEN", plan.titles[0], plan.open_src, plan.open_dest),
        )
        pr.activity = [first, *middle]
        if plan.t_close is not None:
            pr.destination_commit = plan.close_dest
            closer = pr.closed_by_uuid or plan.author
            data = snapshot(plan.state, pr.title, pr.source_commit, plan.close_dest)
            pr.activity.append(Activity("update", iso(plan.t_close), closer, data=data))
        else:
            pr.destination_commit = dest
        pr.updated_on = max(
            [pr.created_on]
            + [a.date for a in pr.activity if bumps_pr(self.world, a.kind)]
            + ([c.updated_on for c in pr.comments] if self.world.settings.comment_bumps_pr else [])
        )
        self.pr_activity.extend(a for a in pr.activity if a.kind == "comment")
        return pr

    # -- comments ---------------------------------------------------------------------------

    def comment_thread(
        self,
        n: int,
        t_from: int,
        t_to: int,
        regulars: list[str],
        members: list[str],
        inline: bool,
    ) -> list[Comment]:
        """``n`` comments in time order with replies, edits and soft-deleted parents."""
        rng = self.rng
        if n <= 0 or t_to - t_from < 4:
            return []
        times = sorted(rng.randint(t_from + 1, t_to - 2) for _ in range(n))
        thread: list[Comment] = []
        has_reply: set[int] = set()
        for i, t in enumerate(times):
            user = rng.choice(regulars) if rng.random() < 0.75 else rng.choice(members)
            self.temp_id += 1
            content = short_markdown(rng) if rng.random() > 0.002 else long_markdown(rng)
            c = Comment(self.temp_id, user, content, iso(t), iso(t))
            if i and rng.random() < 0.25:
                parent = thread[rng.randrange(i)]
                c.parent_id = parent.id
                c.inline = dict(parent.inline) if parent.inline else None
                has_reply.add(parent.id)
            elif inline and rng.random() < 0.35:
                line = rng.randint(1, 400)
                roll = rng.random()
                lines = (None, line) if roll < 0.5 else (line, None) if roll < 0.9 else (line, line)
                c.inline = {"path": rng.choice(PATHS), "from": lines[0], "to": lines[1]}
            if rng.random() < 0.1:
                c.updated_on = iso(rng.randint(t, t_to - 1))
            thread.append(c)
            self.comments.append((t, c.id, c))
        last_reply: dict[int, int] = {}
        for c in thread:
            if c.parent_id is not None:
                last_reply[c.parent_id] = to_us(c.created_on)
        for c in thread:
            if c.id in has_reply and (self.soft_deleted == 0 or rng.random() < 0.2):
                self.soft_deleted += 1
                c.deleted, c.content = True, ""
                gone = max(last_reply[c.id], to_us(c.updated_on)) + rng.randint(1, HOUR)
                c.updated_on = iso(min(gone, LAST_US))
        return thread

    # -- issues -----------------------------------------------------------------------------

    def issues(self, repo: Repository, n: int, comment_counts: list[int], long_at: int) -> None:
        rng = self.rng
        members = member_uuids(self.world, repo)
        start = to_us(repo.created_on) + HOUR
        created = sorted(rng.randint(start, LAST_US - HOUR) for _ in range(n))
        for number, (t0, n_comments) in enumerate(zip(created, comment_counts, strict=True), 1):
            content = long_markdown(rng) if number - 1 == long_at else markdown(rng, 2)
            issue = Issue(
                id=number,
                title=title(rng),
                reporter_uuid=rng.choice(members),
                assignee_uuid=rng.choice(members) if rng.random() < 0.3 else None,
                state="new" if rng.random() < 0.95 else "submitted",
                kind=rng.choices(ISSUE_KINDS, (50, 25, 10, 15))[0],
                priority=rng.choices(ISSUE_PRIORITIES, (10, 30, 40, 15, 5))[0],
                content=content,
                created_on=iso(t0),
                updated_on=iso(t0),
                milestone_id=self.pick(repo.milestones, 0.3),
                version_id=self.pick(repo.versions, 0.3),
                component_id=self.pick(repo.components, 0.4),
                votes=min(int(rng.expovariate(0.7)), 40),
            )
            issue.watcher_uuids = list(
                dict.fromkeys([issue.reporter_uuid, *rng.sample(members, rng.randint(0, 2))])
            )
            n_changes = min(int(rng.expovariate(0.5)), 8)
            for t in sorted(rng.randint(t0 + 1, LAST_US - 1) for _ in range(n_changes)):
                self.issue_change(repo, issue, t, members)
            regulars = [issue.reporter_uuid] + (
                [issue.assignee_uuid] if issue.assignee_uuid else []
            )
            issue.comments = self.comment_thread(
                n_comments, t0, LAST_US, regulars, members, inline=False
            )
            if rng.random() < 0.12:
                for _ in range(rng.randint(1, 3)):
                    name = rng.choice(ATTACHMENT_NAMES)
                    issue.attachments = [a for a in issue.attachments if a.name != name]
                    t = rng.randint(t0 + 1, LAST_US - 1)
                    body = rng.randbytes(rng.randint(16, 512))
                    issue.attachments.append(Attachment(name, body, iso(t)))
                issue.attachments.sort(key=lambda a: a.created_on)
            issue.updated_on = issue_updated_on(self.world, issue)
            repo.issues[number] = issue
        repo.last_issue_id = n

    def pick(self, named: dict[int, Named], p: float) -> int | None:
        if named and self.rng.random() < p:
            return self.rng.choice(list(named))
        return None

    def issue_change(self, repo: Repository, issue: Issue, t: int, members: list[str]) -> None:
        """One change-log record touching one to three fields, applied to the issue."""
        rng = self.rng
        fields = random_issue_fields(rng, repo, issue, members)
        changes = issue_changes(self.world, repo, issue, fields)
        if not changes:
            return
        apply_issue_fields(issue, fields)
        if "content" in changes:
            issue.edited_on = iso(t)
        user = rng.choice(
            [issue.reporter_uuid, issue.assignee_uuid or issue.reporter_uuid, *members]
        )
        self.temp_id += 1
        message = "" if rng.random() < 0.4 else short_markdown(rng)
        change = IssueChange(self.temp_id, user, iso(t), changes, message)
        issue.changes.append(change)
        self.changes.append((t, change.id, change))
