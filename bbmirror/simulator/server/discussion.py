"""Data Center world generation, part two: pull requests, reviews, comments and activity."""

from __future__ import annotations

from bbmirror.simulator.common.pools import (
    PATHS,
    markdown,
    short_markdown,
    voters,
)
from bbmirror.simulator.server.history import HOUR, History, _Plan
from bbmirror.simulator.server.world import (
    DcActivity,
    DcComment,
    DcParticipant,
    DcPullRequest,
    DcRepository,
    expected_version,
)


class Discussion(History):
    """Pull requests with their reviews, comment threads and activity."""

    # -- pull requests ----------------------------------------------------------------------

    def remember(self, t: int, item: object) -> None:
        self.seq += 1
        self.events.append((t, self.seq, item))

    def activity(
        self, pr: DcPullRequest, t: int, user: int, action: str, **data: object
    ) -> DcActivity:
        made = DcActivity(0, t, user, action, data=dict(data))
        pr.activities.append(made)
        self.remember(t, made)
        return made

    def pull_request(
        self, repo: DcRepository, plan: _Plan, n_comments: int, members: list[int]
    ) -> None:
        rng = self.rng
        description = markdown(rng, rng.randint(0, 3)) if rng.random() < 0.8 else ""
        pr = DcPullRequest(
            id=plan.id,
            version=0,
            title=plan.titles[-1],
            description=description,
            state=plan.state,
            author_id=plan.author,
            from_repo_id=repo.id,
            from_branch=plan.branch,
            from_commit=plan.commits[-1],
            to_branch=repo.default_branch,
            to_commit=plan.to_commit,
            created=plan.t_open,
            updated=plan.t_open,
            closed=plan.t_close,
            merge_commit=plan.merge,
            reviewers=[DcParticipant(r, "REVIEWER") for r in plan.reviewers],
            commit_ids=list(reversed(plan.commits)),
            draft=plan.state == "OPEN" and plan.id % 5 == 0,  # no draw: seeds keep their worlds
        )
        self.activity(pr, plan.t_open, plan.author, "OPENED")
        for t, data in plan.rescopes:
            self.activity(pr, t, plan.author, "RESCOPED", **data)
        for i, t in enumerate(plan.edits):
            extra = {"previousTitle": plan.titles[i], "addedReviewers": [], "removedReviewers": []}
            self.activity(pr, t, plan.author, "UPDATED", **extra)
        if plan.bounce:
            self.activity(pr, plan.bounce[0], plan.author, "DECLINED")
            self.activity(pr, plan.bounce[1], plan.author, "REOPENED")
        self.reviews(pr, plan, members)
        self.comments(pr, plan, n_comments, members)
        if plan.t_close is not None:
            extra = {"commit": plan.merge} if plan.merge else {}
            self.activity(pr, plan.t_close, plan.closer, plan.state, **extra)
        pr.activities.sort(key=lambda a: a.created)
        pr.version = expected_version(pr)
        repo.pull_requests[pr.id] = pr
        repo.last_pr_id = max(repo.last_pr_id, pr.id)

    def tip_at(self, plan: _Plan, t: int) -> str:
        return [sha for when, sha in plan.timeline if when <= t][-1]

    def reviews(self, pr: DcPullRequest, plan: _Plan, members: list[int]) -> None:
        rng = self.rng
        approve_p = 0.8 if plan.state == "MERGED" else 0.3
        for voter in voters(rng, plan.reviewers, members, plan.author):
            person = pr.person(voter)
            if person is None:
                person = DcParticipant(voter, "PARTICIPANT")
                pr.participants.append(person)
            t = rng.randint(plan.t_open + 1, plan.t_end - 1)
            if rng.random() < 0.15:
                self.activity(pr, t, voter, "REVIEWED")
                person.status, person.last_reviewed_commit = "NEEDS_WORK", self.tip_at(plan, t)
                t = rng.randint(t, plan.t_end - 1)
            if rng.random() < approve_p:
                self.activity(pr, t, voter, "APPROVED")
                person.status, person.last_reviewed_commit = "APPROVED", self.tip_at(plan, t)
                if rng.random() < 0.05:
                    t = rng.randint(t, plan.t_end - 1)
                    self.activity(pr, t, voter, "UNAPPROVED")
                    person.status = "UNAPPROVED"

    def comments(self, pr: DcPullRequest, plan: _Plan, n: int, members: list[int]) -> None:
        """``n`` comments in time order: threads of nested replies, file anchors, tasks, edits."""
        rng = self.rng
        if n <= 0 or plan.t_end - plan.t_open < 10:
            return
        regulars = [plan.author, *plan.reviewers]
        made: list[DcComment] = []
        for t in sorted(rng.randint(plan.t_open + 1, plan.t_end - 3) for _ in range(n)):
            user = rng.choice(regulars) if rng.random() < 0.75 else rng.choice(members)
            c = DcComment(0, user, short_markdown(rng), t, t)
            if rng.random() < 0.06:
                c.severity = "BLOCKER"
            if made and rng.random() < 0.3:
                rng.choice(made).replies.append(c)
            else:
                if rng.random() < 0.3:
                    c.anchor = self.anchor(plan, t)
                pr.comments.append(c)
                activity = self.activity(pr, t, user, "COMMENTED", commentAction="ADDED")
                self.links.append((activity, c))
            made.append(c)
            self.remember(t, c)
            if user != plan.author and pr.person(user) is None:
                pr.participants.append(DcParticipant(user, "PARTICIPANT"))
        for c in made:
            later = rng.randint(c.created + 1, plan.t_end - 1) if c.created + 1 < plan.t_end else 0
            if not later:
                continue
            if c.severity == "BLOCKER" and rng.random() < 0.5:
                c.state, c.version, c.updated = "RESOLVED", c.version + 1, max(c.updated, later)
                c.resolved, c.resolver_id = c.updated, plan.author  # no draw: bytes unchanged
            elif rng.random() < 0.1:
                c.text += " (edited)"
                c.version, c.updated = c.version + rng.randint(1, 2), max(c.updated, later)
        for c in made:
            if not c.replies and rng.random() < 0.03:
                c.deleted = True
                c.updated = min(plan.t_end - 1, c.updated + rng.randint(1, HOUR))

    def anchor(self, plan: _Plan, t: int) -> dict:
        rng = self.rng
        return {
            "diffType": "EFFECTIVE",
            "fromHash": plan.to_commit or plan.commits[0],
            "toHash": self.tip_at(plan, t),
            "path": rng.choice(PATHS),
            "srcPath": None,
            "line": rng.randint(1, 400),
            "lineType": rng.choice(("ADDED", "ADDED", "CONTEXT", "REMOVED")),
            "fileType": rng.choice(("TO", "TO", "FROM")),
            "orphaned": False,
        }
