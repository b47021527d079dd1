"""Which webhooks a Cloud world's change sends: compare snapshots before and after it.

Deriving events from the world's state, not from each mutation function, means every change
(random activity, a test's own mutation, the API) sends what Bitbucket would, with nothing
to remember in the mutation code. Events follow Atlassian's "Event payloads" page:
``repo:push`` (one delivery per push, a ``changes`` entry per moved ref), and
``pullrequest:created|updated|approved|unapproved|changes_request_created|
changes_request_removed|fulfilled|rejected|comment_created|comment_updated|comment_deleted``.
Issue events are not sent: Cloud removed its issue tracker (and its webhooks) in 2026.
"""

from __future__ import annotations

import random
from typing import Any

from bbmirror.simulator.cloud import mutate, render, render_pr
from bbmirror.simulator.cloud.world import PullRequest, Repository, World
from bbmirror.simulator.common.mix import apply_mix

Snapshot = dict[str, Any]


def snapshot(world: World) -> Snapshot:
    """What the webhooks depend on, per repository uuid."""
    return {repo.uuid: snapshot_one(repo) for repo in world.repositories.values()}


def _pr_state(pr: PullRequest) -> dict:
    return {
        "state": pr.state,
        "updated_on": pr.updated_on,
        "source_commit": pr.source_commit,
        "votes": {p.user_uuid: (p.approved, p.state) for p in pr.participants},
        "comments": {c.id: (c.updated_on, c.deleted, c.content) for c in pr.comments},
    }


def events(world: World, before: Snapshot, base: str) -> list[tuple[str, dict]]:
    """The (event key, payload) pairs the change from ``before`` to now sends."""
    found: list[tuple[str, dict]] = []
    for repo in world.repositories.values():
        old = before.get(repo.uuid)
        if old is None:
            continue  # a new repository: repo:created is not a webhook we send
        new = snapshot_one(repo)
        found += _push(world, repo, old["refs"], new["refs"], base)
        for pr in repo.pullrequests.values():
            found += _pr_events(world, repo, pr, old["prs"].get(pr.id), base)
    return found


def snapshot_one(repo: Repository) -> dict:
    """One repository's refs and pull requests, as the webhooks see them."""
    refs = {("branch", n): h for n, h in repo.branches.items()}
    refs |= {("tag", n): t.target for n, t in repo.tags.items()}
    return {"refs": refs, "prs": {pr.id: _pr_state(pr) for pr in repo.pullrequests.values()}}


def _common(world: World, repo: Repository, actor: str | None, base: str) -> dict:
    return {
        "actor": render.user_by_uuid(world, actor, base),
        "repository": render.repository(world, repo, base, condensed=True),
    }


def _push(world: World, repo: Repository, old: dict, new: dict, base: str) -> list:
    changes = []
    for ref in sorted(set(old) | set(new)):
        before, after = old.get(ref), new.get(ref)
        if before == after:
            continue
        kind, name = ref
        changes.append(
            {
                "old": _ref(world, repo, kind, name, before, base) if before else None,
                "new": _ref(world, repo, kind, name, after, base) if after else None,
                "created": before is None,
                "closed": after is None,
                "forced": bool(before and before not in repo.commits),
                "truncated": False,
                "commits": [render_pr.commit_ref(repo, after, base)] if after else [],
            }
        )
    if not changes:
        return []
    heads = [repo.commits.get(h) for h in new.values() if h not in old.values()]
    actor = next((c.author_uuid for c in heads if c is not None and c.author_uuid), None)
    return [("repo:push", {**_common(world, repo, actor, base), "push": {"changes": changes}})]


def _ref(world: World, repo: Repository, kind: str, name: str, target: str, base: str) -> dict:
    if kind == "branch" and repo.branches.get(name) == target:
        return render_pr.branch(world, repo, name, base)
    if kind == "tag" and name in repo.tags and repo.tags[name].target == target:
        return render_pr.tag(world, repo, repo.tags[name], base)
    return {"type": kind, "name": name, "target": render_pr.commit_ref(repo, target, base)}


def _pr_events(world: World, repo: Repository, pr: PullRequest, old: dict | None, base: str):
    doc = render_pr.pullrequest(world, repo, pr, base, with_participants=True)
    common = {**_common(world, repo, pr.author_uuid, base), "pullrequest": doc}
    if old is None:
        return [("pullrequest:created", common)]
    new = _pr_state(pr)
    out: list[tuple[str, dict]] = []
    if new["state"] != old["state"]:
        key = {"MERGED": "fulfilled", "DECLINED": "rejected"}.get(new["state"], "updated")
        out.append((f"pullrequest:{key}", common))
    for user, (approved, state) in new["votes"].items():
        was_approved, was_state = old["votes"].get(user, (False, None))
        vote = {"date": pr.updated_on, "user": render.user_by_uuid(world, user, base)}
        actor = {**common, "actor": vote["user"]}
        if approved != was_approved:
            key = "approved" if approved else "unapproved"
            out.append((f"pullrequest:{key}", {**actor, "approval": vote}))
        if state != was_state and "changes_requested" in (state, was_state):
            key = "created" if state == "changes_requested" else "removed"
            out.append((f"pullrequest:changes_request_{key}", {**actor, "changes_request": vote}))
    comments = {c.id: c for c in pr.comments}
    for cid in sorted(set(new["comments"]) | set(old["comments"])):
        now, was = new["comments"].get(cid), old["comments"].get(cid)
        if now == was:
            continue
        if was is None:
            key = "comment_created"
        elif now is None or (now[1] and not was[1]):
            key = "comment_deleted"
        else:
            key = "comment_updated"
        c = comments.get(cid)
        rendered = render_pr.pr_comment(world, repo, pr, c, base) if c else {"id": cid}
        out.append((f"pullrequest:{key}", {**common, "comment": rendered}))
    if not out and (
        new["updated_on"] != old["updated_on"] or new["source_commit"] != old["source_commit"]
    ):
        out.append(("pullrequest:updated", common))
    return out


# -- activity that sends webhooks ------------------------------------------------------------


def _commented_prs(repo: Repository) -> list[PullRequest]:
    return [pr for pr in repo.pullrequests.values() if pr.comments]


_op_edit_pr_comment, _op_delete_pr_comment = mutate.comment_ops(_commented_prs)


# The mutations Cloud sends webhooks for (pull requests, their comments and votes, pushes and
# refs); issues, build statuses, renames and settings send none of the events we handle.
WEBHOOK_OPERATIONS = (
    (mutate._op_comment_pr, 20),
    (mutate._op_approve, 7),
    (mutate._op_request_changes, 2),
    (mutate._op_update_pr, 7),
    (mutate._op_open_pr, 5),
    (mutate._op_merge_pr, 5),
    (mutate._op_decline_pr, 1),
    (_op_edit_pr_comment, 4),
    (_op_delete_pr_comment, 2),
    (mutate._op_push, 6),
    (mutate._op_force_push, 1),
    (mutate._op_create_branch, 1),
    (mutate._op_delete_branch, 1),
    (mutate._op_create_tag, 1),
    (mutate._op_delete_tag, 0.5),
)


def webhook_activity(world: World, n: int, rng: random.Random) -> list[str]:
    """``n`` mutations of the kinds Cloud sends webhooks for."""
    return apply_mix(world, list(world.repositories.values()), WEBHOOK_OPERATIONS, n, rng)
