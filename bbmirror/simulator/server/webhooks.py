"""Which webhooks a Data Center world's change sends: compare snapshots before and after it.

As for Cloud (``simulator/cloud/webhooks.py``), events come from the world's state, so any
change sends what Bitbucket Data Center would (Atlassian, "Event payload"): one
``repo:refs_changed`` per push with a ``changes`` entry per ref (ADD, UPDATE, DELETE, hashes
of forty zeros for a side that does not exist), and ``pr:opened|modified|from_ref_updated|
reviewer:approved|reviewer:unapproved|reviewer:needs_work|merged|declined|deleted|
comment:added|comment:edited|comment:deleted``. Every body repeats its key in ``eventKey``
and carries ``date`` and ``actor``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from bbmirror.simulator.common.mix import apply_mix
from bbmirror.simulator.server import mutate as dc_mutate
from bbmirror.simulator.server import render
from bbmirror.simulator.server.world import DcPullRequest, DcRepository, DcWorld

Snapshot = dict[int, Any]
ZERO = "0" * 40
REVIEW = {"APPROVED": "approved", "NEEDS_WORK": "needs_work", "UNAPPROVED": "unapproved"}


def snapshot(world: DcWorld) -> Snapshot:
    """What the webhooks depend on, per repository id."""
    return {r.id: _repo_state(r) for r in world.repositories.values()}


def _repo_state(repo: DcRepository) -> dict:
    refs = {f"refs/heads/{n}": h for n, h in repo.branches.items()}
    refs |= {f"refs/tags/{n}": t.target for n, t in repo.tags.items()}
    return {"refs": refs, "prs": {pr.id: _pr_state(pr) for pr in repo.pull_requests.values()}}


def _pr_state(pr: DcPullRequest) -> dict:
    return {
        "state": pr.state,
        "version": pr.version,
        "updated": pr.updated,
        "from_commit": pr.from_commit,
        "reviews": {p.user_id: p.status for p in (*pr.reviewers, *pr.participants)},
        "comments": {c.id: (c.updated, c.deleted, c.text) for c in pr.all_comments(deleted=True)},
    }


def events(world: DcWorld, before: Snapshot, base: str) -> list[tuple[str, dict]]:
    """The (event key, payload) pairs the change from ``before`` to now sends."""
    found: list[tuple[str, dict]] = []
    for repo in world.repositories.values():
        old = before.get(repo.id)
        if old is None:
            continue
        new = _repo_state(repo)
        found += _push(world, repo, old["refs"], new["refs"], base)
        for number in sorted(set(old["prs"]) | set(new["prs"])):
            pr = repo.pull_requests.get(number)
            found += _pr_events(world, repo, number, pr, old["prs"].get(number), base)
    return found


def _body(world: DcWorld, key: str, actor: int | None, **rest: Any) -> tuple[str, dict]:
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    who = render.user_by_id(world, actor, "") if actor in world.users else None
    return key, {"eventKey": key, "date": date, "actor": who, **rest}


def _push(world: DcWorld, repo: DcRepository, old: dict, new: dict, base: str) -> list:
    changes = []
    for ref in sorted(set(old) | set(new)):
        before, after = old.get(ref), new.get(ref)
        if before == after:
            continue
        kind = "ADD" if before is None else "DELETE" if after is None else "UPDATE"
        display = ref.split("/", 2)[2]
        changes.append(
            {
                "ref": {
                    "id": ref,
                    "displayId": display,
                    "type": "TAG" if ref.startswith("refs/tags/") else "BRANCH",
                },
                "refId": ref,
                "fromHash": before or ZERO,
                "toHash": after or ZERO,
                "type": kind,
            }
        )
    if not changes:
        return []
    doc = render.repository(world, repo, base)
    return [_body(world, "repo:refs_changed", None, repository=doc, changes=changes)]


def _pr_events(
    world: DcWorld, repo: DcRepository, number: int, pr: DcPullRequest | None, old: dict | None,
    base: str,
) -> list:  # fmt: skip
    if pr is None:
        if old is None:
            return []
        gone = {"id": number, "toRef": {"repository": render.repository(world, repo, base)}}
        return [_body(world, "pr:deleted", None, pullRequest=gone)]
    doc = render.pull_request(world, repo, pr, base)
    if old is None:
        return [_body(world, "pr:opened", pr.author_id, pullRequest=doc)]
    new = _pr_state(pr)
    out = []
    if new["state"] != old["state"]:
        key = {"MERGED": "pr:merged", "DECLINED": "pr:declined"}.get(new["state"], "pr:opened")
        out.append(_body(world, key, pr.author_id, pullRequest=doc))
    for user, status in new["reviews"].items():
        was = old["reviews"].get(user, "UNAPPROVED")
        if status != was:
            key = f"pr:reviewer:{REVIEW.get(status, 'unapproved')}"
            participant = {"user": render.user_by_id(world, user, base), "status": status}
            out.append(
                _body(
                    world, key, user, pullRequest=doc, participant=participant, previousStatus=was
                )  # fmt: skip
            )
    comments = {c.id: c for c in pr.all_comments(deleted=True)}
    for cid in sorted(set(new["comments"]) | set(old["comments"])):
        now, was = new["comments"].get(cid), old["comments"].get(cid)
        if now == was:
            continue
        if was is None:
            key = "pr:comment:added"
        elif now is None or (now[1] and not was[1]):
            key = "pr:comment:deleted"
        else:
            key = "pr:comment:edited"
        c = comments.get(cid)
        body = render.comment(world, c, base, repo.id) if c else {"id": cid}
        out.append(_body(world, key, c.author_id if c else None, pullRequest=doc, comment=body))
    if not out and new["from_commit"] != old["from_commit"]:
        out.append(_body(world, "pr:from_ref_updated", pr.author_id, pullRequest=doc))
    elif not out and (new["version"], new["updated"]) != (old["version"], old["updated"]):
        out.append(_body(world, "pr:modified", pr.author_id, pullRequest=doc))
    return out


# Data Center: everything but build statuses and moving a repository to another project.
WEBHOOK_OPERATIONS = tuple(
    (op, w) for op, w in dc_mutate.OPERATIONS if op not in (dc_mutate._op_build, dc_mutate._op_repo)
)


def webhook_activity(world: DcWorld, n: int, rng: random.Random) -> list[str]:
    """``n`` mutations of the kinds Data Center sends webhooks for."""
    return apply_mix(world, list(world.repositories.values()), WEBHOOK_OPERATIONS, n, rng)
