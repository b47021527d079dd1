"""The simulator held to the field: its objects carry the keys real Bitbucket objects carry.

For each object kind the mirror reads: every key the simulator sends is a key some real payload
carries (or is listed below, with the reason, as an accepted difference), and every key all real
payloads of that kind carry, the simulator sends (issue 12.7).
"""

from __future__ import annotations

import pytest
from realcorpus import cloud, server

from bbmirror.simulator.cloud import render, render_pr
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.server import render as dc_render
from bbmirror.simulator.server.generate import generate_dc

BASE = "https://api.bitbucket.org/2.0"

# (flavour, kind) -> {key: why the simulator may send it though no capture here carries it}
ACCEPTED: dict[tuple[str, str], dict[str, str]] = {
    ("cloud", "repository"): {
        "parent": "forks only (reference §3.4); the captured repositories are no forks",
        "workspace": "every repository since the 2020 workspace migration; captures are older",
    },
    ("cloud", "pullrequest"): {
        "draft": "real PRs carry draft since 2023 (issue 12.7); the captures predate it",
        "participants": "the single-PR GET carries them (§3.11); captures are list items",
        "reviewers": "the single-PR GET carries them (§3.11); captures are list items",
        "rendered": "rendered{title, description, reason} is in the PR schema (§3.11)",
    },
    ("cloud", "comment"): {"inline": "inline comments only (§3.12); the capture is general"},
    ("cloud", "commit_status"): {
        "refname": "a schema field (§3.17), optional; the 2015 capture predates it"
    },
    ("server", "repository"): {
        "description": "optional: sent when the repository has one",
        "hierarchyId": "Data Center 7.x and later; the captures predate it",
    },
    ("server", "pullrequest"): {"closedDate": "closed PRs only; both captured PRs are open"},
    ("server", "commented"): {"commentAnchor": "inline comments only; the captures are general"},
    ("server", "comment"): {
        "anchor": "inline comments only; the captures are general",
        "severity": "Data Center 7.2+ (tasks are BLOCKER comments); the captures predate it",
        "state": "Data Center 7.2+ (OPEN/RESOLVED tasks); the captures predate it",
    },
    ("server", "commit"): {"properties": "jira-key, when the message names a Jira issue"},
}


# Nested objects: (flavour, kind, path) -> {key: why it may differ}; real-only keys listed here
# are keys the field sends that this simulator does not.
NESTED: dict[tuple[str, str, tuple[str, ...]], dict[str, str]] = {
    ("cloud", "pullrequest", ("author",)): {},
    ("cloud", "pullrequest", ("source",)): {},
    ("cloud", "pullrequest", ("source", "repository")): {},
    ("cloud", "pullrequest", ("source", "commit")): {},
    ("cloud", "pullrequest", ("summary",)): {},
    ("cloud", "pullrequest", ("links",)): {
        "request-changes": "added with change requests (2022); the captures predate it"
    },
    ("cloud", "repository", ("owner",)): {},
    ("cloud", "repository", ("mainbranch",)): {},
    ("cloud", "repository", ("project",)): {},
    ("cloud", "repository", ("links",)): {"issues": "only while the issue tracker is on"},
    ("cloud", "comment", ("content",)): {},
    ("cloud", "comment", ("user",)): {},
    ("cloud", "comment", ("pullrequest",)): {},
    ("cloud", "comment", ("links",)): {"code": "inline comments only"},
    ("cloud", "activity", ("pull_request",)): {},
    ("cloud", "activity", ("approval",)): {},
    ("cloud", "activity", ("approval", "user")): {
        "account_id": "users carry account_id since 2019; the 2017 capture predates it",
        "nickname": "users carry nickname since 2019; the 2017 capture predates it",
        "username": "real-only: usernames left the API in 2019 (GDPR); the capture is from 2017",
    },
    ("cloud", "commit", ("links",)): {},
    ("cloud", "commit", ("repository",)): {},
    ("cloud", "branch", ("target",)): {},
    ("cloud", "branch", ("links",)): {},
    ("cloud", "commit_status", ("links",)): {},
    ("cloud", "member", ("user",)): {},
    ("cloud", "member", ("workspace",)): {},
    ("server", "pullrequest", ("author",)): {},
    ("server", "pullrequest", ("author", "user")): {},
    ("server", "pullrequest", ("fromRef",)): {
        "type": "ref type (BRANCH) of newer releases; the captures predate it"
    },
    ("server", "pullrequest", ("fromRef", "repository")): {
        "description": "optional: sent when the repository has one",
        "hierarchyId": "Data Center 7.x and later; the captures predate it",
    },
    ("server", "pullrequest", ("properties",)): {
        "commentCount": "only when the PR has comments; the captured PR has none",
        "mergeResult": "real-only here: sent on open PRs; the sampled simulated PR is closed",
    },
    ("server", "repository", ("project",)): {"description": "optional: when the project has one"},
    ("server", "commented", ("user",)): {},
    ("server", "comment", ("author",)): {},
}


def _at(obj: object, path: tuple[str, ...]) -> object:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(obj, list):
            obj = obj[0] if obj else None
    return obj


def _cloud_sim() -> dict[str, dict]:
    world = generate(11, "small")
    repo = max(world.repositories.values(), key=lambda r: len(r.pullrequests))
    pr = max(repo.pullrequests.values(), key=lambda p: len(p.comments))
    ws = next(w for w in world.workspaces.values() if w.members)
    sha, statuses = next(iter(repo.statuses.items()))
    approvals = [
        doc
        for p in repo.pullrequests.values()
        for a in p.activity
        if (doc := render_pr.activity_entry(world, repo, p, a, BASE)) and "approval" in doc
    ]
    return {
        "repository": render.repository(world, repo, BASE),
        "pullrequest": render_pr.pullrequest(world, repo, pr, BASE, with_participants=True),
        "comment": render_pr.pr_comment(world, repo, pr, pr.comments[0], BASE),
        "activity": approvals[0],
        "commit": render_pr.commit(world, repo, next(iter(repo.commits.values())), BASE),
        "commit_status": render_pr.commit_status(world, repo, sha, statuses[0], BASE),
        "branch": render_pr.branch(world, repo, next(iter(repo.branches)), BASE),
        "member": render.membership(world, ws, ws.members[0], BASE),
    }


def _server_sim() -> dict[str, dict]:
    world = generate_dc(5, "small")
    repo = max(world.repositories.values(), key=lambda r: len(r.pull_requests))
    pr = max(repo.pull_requests.values(), key=lambda p: len(p.activities))
    sha, builds = next(iter(repo.builds.items()))
    commented = next(a for a in pr.activities if a.action == "COMMENTED")
    opened = next(a for a in pr.activities if a.action == "OPENED")
    activity = dc_render.activity(world, repo, pr, commented, BASE)
    return {
        "repository": dc_render.repository(world, repo, BASE),
        "project": dc_render.project(world, world.projects[repo.project_id], BASE),
        "pullrequest": dc_render.pull_request(world, repo, pr, BASE),
        "commented": activity,
        "opened": dc_render.activity(world, repo, pr, opened, BASE),
        "comment": activity["comment"],
        "commit": dc_render.commit(world, repo.commits[sha], BASE),
        "build": dc_render.build(builds[0]),
        "branch": dc_render.branch(repo, next(iter(repo.branches))),
    }


SIMULATED = {"cloud": _cloud_sim, "server": _server_sim}
REAL = {"cloud": cloud, "server": server}
KINDS = [(f, k) for f in ("cloud", "server") for k in REAL[f]()]


@pytest.fixture(scope="module")
def simulated() -> dict[str, dict[str, dict]]:
    return {flavour: make() for flavour, make in SIMULATED.items()}


@pytest.mark.parametrize(("flavour", "kind"), KINDS)
def test_simulator_sends_only_keys_the_field_sends(simulated, flavour, kind):
    real = REAL[flavour]()[kind]
    sent = set(simulated[flavour][kind])
    known = set().union(*(set(obj) for obj in real)) | set(ACCEPTED.get((flavour, kind), {}))
    assert sent - known == set(), f"{flavour} {kind}: keys no real payload carries"


@pytest.mark.parametrize(("flavour", "kind"), KINDS)
def test_simulator_sends_every_key_the_field_always_sends(simulated, flavour, kind):
    real = REAL[flavour]()[kind]
    always = set.intersection(*(set(obj) for obj in real))
    assert always - set(simulated[flavour][kind]) == set(), f"{flavour} {kind}: missing keys"


def test_accepted_differences_are_still_differences(simulated):
    """An accepted key that real payloads now carry, or the simulator no longer sends, must go."""
    for (flavour, kind), keys in ACCEPTED.items():
        real = set().union(*(set(obj) for obj in REAL[flavour]()[kind]))
        assert not set(keys) & real, (flavour, kind)
        assert set(keys) <= set(simulated[flavour][kind]), (flavour, kind)


@pytest.mark.parametrize(("flavour", "kind", "path"), list(NESTED))
def test_nested_objects_carry_the_keys_of_the_field(simulated, flavour, kind, path):
    sent = _at(simulated[flavour][kind], path)
    real = [r for obj in REAL[flavour]()[kind] if isinstance(r := _at(obj, path), dict)]
    assert isinstance(sent, dict) and real, (flavour, kind, path)
    accepted = set(NESTED[(flavour, kind, path)])
    invented = set(sent) - set().union(*map(set, real)) - accepted
    missing = set.intersection(*map(set, real)) - set(sent) - accepted
    assert (invented, missing) == (set(), set()), (flavour, kind, path)
