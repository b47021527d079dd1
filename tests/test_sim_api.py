"""The Cloud simulator's HTTP API: shapes, paging, filters, auth, export and attachments."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import zipfile
from typing import Any

import httpx
import pytest

from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig, commit_order
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.world import (
    Attachment,
    Comment,
    Membership,
    Repository,
    User,
    Workspace,
    World,
)
from bbmirror.simulator.common.transport import SimulatorTransport

BASE = "http://bitbucket.test/2.0"
OWNER_TOKEN = "owner-token-s3cret-value"
OUTSIDER_TOKEN = "outsider-token-s3cret-value"
API_TOKEN = "api-token-s3cret-value"
OUTSIDER = "{00000000-0000-4000-8000-00000000abcd}"
SECRETS = (OWNER_TOKEN, OUTSIDER_TOKEN, API_TOKEN)


def make_world() -> World:
    """generate(1, "tiny") plus an outsider and a private workspace with a private repo."""
    world = generate(1, "tiny")
    world.users[OUTSIDER] = User(OUTSIDER, "outsider-acct", "Olive Outsider", "olive", world.clock)
    owner = owner_uuid(world)
    hidden = Workspace(
        "{00000000-0000-4000-8000-0000000000ff}",
        "hidden",
        "Hidden Inc",
        True,
        world.clock,
        world.clock,
        members=[Membership(owner, "owner", world.clock)],
    )
    world.workspaces["hidden"] = hidden
    secret = Repository(
        "{00000000-0000-4000-8000-0000000000ee}",
        "hidden",
        "vault",
        "Vault",
        "",
        True,
        True,
        "main",
        "python",
        1,
        world.clock,
        world.clock,
    )
    world.repositories[secret.uuid] = secret
    tracker = max(world.repositories.values(), key=lambda r: len(r.issues))
    first = tracker.issues[min(tracker.issues)]
    first.attachments += [
        Attachment("trace log.txt", b"line 1\nline 2\n", "2025-03-02T10:00:00.000000+00:00"),
        Attachment("screen.png", b"\x89PNG\r\n\x1a\nfake", "2025-03-01T10:00:00.000000+00:00"),
    ]
    return world


def owner_uuid(world: World) -> str:
    return world.workspaces["acme"].members[0].user_uuid


def config_for(world: World, **kwargs: Any) -> SimulatorConfig:
    kwargs.setdefault("base_url", BASE)
    return SimulatorConfig(
        tokens={OWNER_TOKEN: owner_uuid(world), OUTSIDER_TOKEN: OUTSIDER},
        basic={("owner@example.com", API_TOKEN): owner_uuid(world)},
        **kwargs,
    )


class Sim:
    """A synchronous face on the in-process simulator (one event loop per test)."""

    def __init__(self, world: World, config: SimulatorConfig | None = None) -> None:
        self.world = world
        self.app = create_app(world, config or config_for(world))
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=SimulatorTransport(self.app), base_url=BASE)

    def get(self, url: str, token: str | None = OWNER_TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return self.loop.run_until_complete(self.client.get(url, headers=headers, **kwargs))

    def post(self, url: str, token: str | None = OWNER_TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.loop.run_until_complete(self.client.post(url, headers=headers, **kwargs))

    def walk(self, url: str, token: str | None = OWNER_TOKEN, **kwargs: Any) -> list[dict]:
        """Every value of a list, following ``next`` to the end (and checking no loops)."""
        values: list[dict] = []
        seen: set[str] = set()
        response = self.get(url, token, **kwargs)
        while True:
            assert response.status_code == 200, response.text
            page = response.json()
            values.extend(page["values"])
            nxt = page.get("next")
            if not nxt:
                return values
            assert nxt.startswith(BASE) and nxt not in seen
            seen.add(nxt)
            response = self.get(nxt, token)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def sim() -> Sim:
    s = Sim(make_world())
    yield s
    s.close()


def repo_path(repo: Repository) -> str:
    return f"/repositories/{repo.workspace}/{repo.slug}"


def busiest(world: World, attr: str) -> Repository:
    return max(
        (r for r in world.repositories.values() if r.workspace == "acme"),
        key=lambda r: len(getattr(r, attr)),
    )


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


# --- users, workspaces, auth -------------------------------------------------------------------


def test_user_needs_a_credential_and_basic_or_bearer_works(sim: Sim) -> None:
    assert_error(sim.get("/user", token=None), 401)
    me = sim.get("/user").json()
    assert me["type"] == "user" and me["uuid"] == owner_uuid(sim.world)
    assert me["links"]["self"]["href"] == f"{BASE}/users/%7B{me['uuid'][1:-1]}%7D"
    assert me["links"]["html"]["href"].startswith("https://bitbucket.org/%7B")
    basic = base64.b64encode(f"owner@example.com:{API_TOKEN}".encode()).decode()
    via_basic = sim.get("/user", token=None, headers={"Authorization": f"Basic {basic}"})
    assert via_basic.status_code == 200 and via_basic.json()["uuid"] == me["uuid"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-real-token-s3cret",
        "Basic " + base64.b64encode(b"owner@example.com:wrong-s3cret").decode(),
        "Basic !!!notbase64",
        "Digest whatever",
    ],
)
def test_wrong_credentials_are_401_without_echo(sim: Sim, header: str) -> None:
    response = sim.get(
        f"{repo_path(busiest(sim.world, 'issues'))}", token=None, headers={"Authorization": header}
    )
    assert_error(response, 401)
    secret = header.split(" ", 1)[1]
    assert secret not in response.text
    assert "s3cret" not in response.text
    record = sim.app.state.request_log[-1]
    assert record.status == 401 and "s3cret" not in repr(record)


def test_secrets_never_reach_the_request_log(sim: Sim) -> None:
    sim.get("/user")
    sim.get("/user", token=OUTSIDER_TOKEN)
    basic = base64.b64encode(f"owner@example.com:{API_TOKEN}".encode()).decode()
    sim.get("/user", token=None, headers={"Authorization": f"Basic {basic}"})
    sim.get(f"/user?access_token={OWNER_TOKEN}", token=None)
    log = sim.app.state.request_log
    assert [r.credential for r in log] == [
        "token#1",
        "token#2",
        "basic:owner@example.com",
        "anonymous",
    ]
    assert [r.status for r in log[:3]] == [200, 200, 200]
    text = repr(log)
    assert not any(secret in text for secret in SECRETS)
    log.clear()
    assert sim.app.state.request_log == []


def test_cross_workspace_listing_is_gone(sim: Sim) -> None:
    assert_error(sim.get("/workspaces"), 410)
    assert_error(sim.get("/user/permissions/workspaces"), 410)


def test_legacy_workspace_switch_lists_instead() -> None:
    world = make_world()
    s = Sim(world, config_for(world, legacy_workspace_apis=True))
    try:
        slugs = {w["slug"] for w in s.walk("/workspaces")}
        assert slugs == {"acme", "hidden"}
        perms = s.walk("/user/permissions/workspaces")
        assert {p["type"] for p in perms} == {"workspace_membership"}
    finally:
        s.close()


def test_user_workspaces_lists_memberships(sim: Sim) -> None:
    values = sim.walk("/user/workspaces")
    assert {v["workspace"]["slug"] for v in values} == {"acme", "hidden"}
    assert all(v["type"] == "workspace_access" for v in values)
    assert sim.walk("/user/workspaces", token=OUTSIDER_TOKEN) == []
    assert_error(sim.get("/user/workspaces", token=None), 401)


def test_workspace_members_and_projects(sim: Sim) -> None:
    ws = sim.world.workspaces["acme"]
    doc = sim.get("/workspaces/acme").json()
    assert doc["type"] == "workspace" and doc["uuid"] == ws.uuid and doc["slug"] == "acme"
    assert doc["links"]["self"]["href"] == f"{BASE}/workspaces/acme"
    assert doc["links"]["html"]["href"] == "https://bitbucket.org/acme/"
    by_uuid = sim.get(f"/workspaces/%7B{ws.uuid[1:-1]}%7D").json()
    assert by_uuid["slug"] == "acme"
    members = sim.walk("/workspaces/acme/members")
    assert len(members) == len(ws.members)
    first = members[0]
    assert first["type"] == "workspace_membership" and first["user"]["type"] == "user"
    assert first["workspace"]["slug"] == "acme"
    assert not {"permission", "added_on", "last_accessed"} & set(first)  # as real ones (12.7)
    owners = sim.walk("/workspaces/acme/members", params={"q": 'permission="owner"'})
    assert [m["user"]["uuid"] for m in owners] == [ws.members[0].user_uuid]
    projects = sim.walk("/workspaces/acme/projects")
    assert {p["key"] for p in projects} == set(ws.projects)
    key = projects[0]["key"]
    one = sim.get(f"/workspaces/acme/projects/{key}").json()
    assert one["type"] == "project" and one["uuid"] == ws.projects[key].uuid
    assert_error(sim.get("/workspaces/acme/projects/NOPE"), 404)


def test_workspace_visibility(sim: Sim) -> None:
    assert_error(sim.get("/workspaces/hidden", token=OUTSIDER_TOKEN), 404)
    assert_error(sim.get("/workspaces/hidden", token=None), 404)
    assert sim.get("/workspaces/hidden").status_code == 200
    assert sim.get("/workspaces/acme", token=None).status_code == 200  # a public workspace
    assert_error(sim.get("/workspaces/acme/members", token=OUTSIDER_TOKEN), 403)
    assert_error(sim.get("/workspaces/nowhere"), 404)


def test_private_repositories_are_invisible_to_outsiders(sim: Sim) -> None:
    world = sim.world
    acme = [r for r in world.repositories.values() if r.workspace == "acme"]
    public = {r.slug for r in acme if not r.is_private}
    private = [r for r in acme if r.is_private]
    assert public and private
    assert {r["slug"] for r in sim.walk("/repositories/acme", token=None)} == public
    assert {r["slug"] for r in sim.walk("/repositories/acme", token=OUTSIDER_TOKEN)} == public
    assert {r["slug"] for r in sim.walk("/repositories/acme")} == {r.slug for r in acme}
    for token in (None, OUTSIDER_TOKEN):
        assert_error(sim.get(repo_path(private[0]), token=token), 404)
        assert_error(sim.get(f"{repo_path(private[0])}/pullrequests", token=token), 404)
    assert_error(sim.get("/repositories/hidden/vault", token=OUTSIDER_TOKEN), 404)
    assert sim.get("/repositories/hidden/vault").status_code == 200
    assert_error(sim.get("/repositories/acme/no-such-repo"), 404)


def test_anonymous_can_be_switched_off() -> None:
    world = make_world()
    s = Sim(world, config_for(world, allow_anonymous=False))
    try:
        public = next(r for r in world.repositories.values() if not r.is_private)
        assert_error(s.get(repo_path(public), token=None), 401)
        assert s.get(repo_path(public)).status_code == 200
    finally:
        s.close()


# --- repositories ------------------------------------------------------------------------------


def test_repository_shape_links_and_uuid_addressing(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    doc = sim.get(repo_path(repo)).json()
    for key in ("type", "uuid", "full_name", "name", "slug", "is_private", "has_issues"):
        assert key in doc
    assert doc["type"] == "repository" and doc["full_name"] == repo.full_name
    assert doc["mainbranch"] == {"name": repo.mainbranch, "type": "branch"}
    assert doc["links"]["self"]["href"] == f"{BASE}{repo_path(repo)}"
    assert doc["links"]["html"]["href"] == f"https://bitbucket.org/{repo.full_name}"
    assert doc["project"]["type"] == "project" and doc["workspace"]["type"] == "workspace"
    assert {c["name"] for c in doc["links"]["clone"]} == {"https", "ssh"}
    braced = f"%7B{repo.uuid[1:-1]}%7D"
    for path in (f"/repositories/acme/{braced}", f"/repositories/%7B%7D/{braced}"):
        assert sim.get(path).json()["uuid"] == repo.uuid
    assert sim.get(f"{repo_path(repo)}/").json()["uuid"] == repo.uuid  # trailing slash


def test_html_base_is_configurable() -> None:
    world = make_world()
    s = Sim(world, config_for(world, html_base="https://bb.example.org"))
    try:
        repo = busiest(world, "issues")
        doc = s.get(repo_path(repo)).json()
        assert doc["links"]["html"]["href"] == f"https://bb.example.org/{repo.full_name}"
    finally:
        s.close()


# --- paging, q, sort, fields -------------------------------------------------------------------


@pytest.mark.parametrize("pagelen", [1, 3, 10, 100])
def test_walking_next_yields_every_item_once_in_order(sim: Sim, pagelen: int) -> None:
    repo = busiest(sim.world, "issues")
    values = sim.walk(f"{repo_path(repo)}/issues", params={"pagelen": pagelen})
    assert [v["id"] for v in values] == sorted(repo.issues)
    first = sim.get(f"{repo_path(repo)}/issues", params={"pagelen": pagelen}).json()
    assert first["size"] == len(repo.issues) and first["page"] == 1
    assert first["pagelen"] == pagelen and "previous" not in first


def test_next_and_previous_keep_every_query_parameter(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    params = [("state", "OPEN"), ("state", "MERGED"), ("state", "DECLINED"), ("pagelen", "1")]
    params += [("sort", "-updated_on"), ("fields", "+values.participants")]
    page1 = sim.get(f"{repo_path(repo)}/pullrequests", params=params).json()
    nxt = httpx.URL(page1["next"])
    assert nxt.params.get_list("state") == ["OPEN", "MERGED", "DECLINED"]
    assert nxt.params["sort"] == "-updated_on" and nxt.params["fields"] == "+values.participants"
    assert "%2Bvalues.participants" in str(nxt)  # "+" stays encoded
    assert nxt.params["page"] == "2"
    page2 = sim.get(page1["next"]).json()
    assert httpx.URL(page2["previous"]).params["page"] == "1"
    assert page2["values"][0]["id"] != page1["values"][0]["id"]


def test_page_beyond_the_end_and_pagelen_limits(sim: Sim) -> None:
    repo = busiest(sim.world, "issues")
    past = sim.get(f"{repo_path(repo)}/issues", params={"page": 99}).json()
    assert past["values"] == [] and "next" not in past and past["size"] == len(repo.issues)
    clamped = sim.get(f"{repo_path(repo)}/issues", params={"pagelen": 500}).json()
    assert clamped["pagelen"] == 100
    assert_error(sim.get(f"{repo_path(repo)}/issues", params={"pagelen": 0}), 400)
    assert_error(sim.get(f"{repo_path(repo)}/issues", params={"page": "x"}), 400)


def test_q_and_sort_pass_through_and_bad_q_is_400(sim: Sim) -> None:
    repo = busiest(sim.world, "issues")
    url = f"{repo_path(repo)}/issues"
    major = sim.walk(url, params={"q": 'priority >= "major"', "sort": "-updated_on"})
    want = [i for i in repo.issues.values() if i.priority in ("major", "critical", "blocker")]
    assert {v["id"] for v in major} == {i.id for i in want}
    stamps = [v["updated_on"] for v in major]
    assert stamps == sorted(stamps, reverse=True)
    assert sim.get(url, params={"q": 'priority >= "major"'}).json()["size"] == len(want)
    message = assert_error(sim.get(url, params={"q": 'state = "open" AND ('}), 400)
    assert message
    assert_error(sim.get(url, params={"sort": "id,title"}), 400)


def test_fields_whitelist_drops_next(sim: Sim) -> None:
    repo = busiest(sim.world, "issues")
    url = f"{repo_path(repo)}/issues"
    bare = sim.get(url, params={"fields": "values.id", "pagelen": 2}).json()
    assert set(bare) == {"values"} and all(set(v) == {"id"} for v in bare["values"])
    kept = sim.get(url, params={"fields": "next,values.id", "pagelen": 2}).json()
    assert set(kept) == {"next", "values"}
    ids = [v["id"] for v in sim.walk(url, params={"fields": "next,values.id", "pagelen": 4})]
    assert ids == sorted(repo.issues)


# --- issues ------------------------------------------------------------------------------------


def test_issue_shapes(sim: Sim) -> None:
    repo = busiest(sim.world, "issues")
    issue = next(i for i in repo.issues.values() if i.comments and i.changes)
    doc = sim.get(f"{repo_path(repo)}/issues/{issue.id}").json()
    for key in ("type", "id", "repository", "title", "reporter", "assignee", "created_on"):
        assert key in doc
    for key in ("updated_on", "edited_on", "state", "kind", "priority", "votes", "content"):
        assert key in doc
    assert doc["type"] == "issue" and doc["id"] == issue.id
    assert doc["content"]["type"] == "rendered" and doc["content"]["raw"] == issue.content
    assert set(doc["content"]) == {"raw", "markup", "html", "type"}
    assert doc["repository"]["type"] == "repository" and set(doc["repository"]) == {
        "links",
        "type",
        "name",
        "full_name",
        "uuid",
    }
    assert doc["reporter"]["uuid"] == issue.reporter_uuid and doc["reporter"]["type"] == "user"
    assert set(doc["links"]) >= {"self", "html", "comments", "attachments", "watch", "vote"}
    api = f"{BASE}{repo_path(repo)}/issues/{issue.id}"
    assert doc["links"]["self"]["href"] == api
    assert (
        doc["links"]["html"]["href"] == f"https://bitbucket.org/{repo.full_name}/issues/{issue.id}"
    )
    if issue.milestone_id is not None:
        assert doc["milestone"]["type"] == "milestone" and doc["milestone"]["name"]

    comments = sim.walk(f"{repo_path(repo)}/issues/{issue.id}/comments")
    assert [c["id"] for c in comments] == [c.id for c in issue.comments]
    assert comments[0]["type"] == "issue_comment" and comments[0]["issue"]["id"] == issue.id
    one = sim.get(f"{repo_path(repo)}/issues/{issue.id}/comments/{issue.comments[0].id}")
    assert one.json()["links"]["self"]["href"] == f"{api}/comments/{issue.comments[0].id}"

    changes = sim.walk(f"{repo_path(repo)}/issues/{issue.id}/changes")
    assert [c["id"] for c in changes] == [c.id for c in issue.changes]
    change = changes[0]
    assert change["type"] == "issue_change" and change["message"]["type"] == "rendered"
    assert all(
        isinstance(v["old"], str) and isinstance(v["new"], str) for v in change["changes"].values()
    )
    assert change["links"]["html"]["href"].endswith(f"#comment-{change['id']}")
    single = sim.get(f"{repo_path(repo)}/issues/{issue.id}/changes/{change['id']}").json()
    assert single == change
    assert_error(sim.get(f"{repo_path(repo)}/issues/99999"), 404)


def test_issue_comment_soft_delete_renders_blank() -> None:
    world = make_world()
    repo = busiest(world, "issues")
    issue = next(iter(repo.issues.values()))
    issue.comments.append(
        Comment(777777, owner_uuid(world), "gone", world.clock, world.clock, deleted=True)
    )
    s = Sim(world)
    try:
        doc = s.get(f"{repo_path(repo)}/issues/{issue.id}/comments/777777").json()
        assert doc["deleted"] is True and doc["content"]["raw"] == ""
    finally:
        s.close()


def test_issue_tracker_disabled_is_404(sim: Sim) -> None:
    repo = next(r for r in sim.world.repositories.values() if not r.has_issues)
    for suffix in ("issues", "issues/1", "milestones", "components", "versions"):
        message = assert_error(sim.get(f"{repo_path(repo)}/{suffix}"), 404)
        assert message == "Repository has no issue tracker."


def test_milestones_versions_components(sim: Sim) -> None:
    repo = busiest(sim.world, "issues")
    for kind, table in (
        ("milestone", repo.milestones),
        ("version", repo.versions),
        ("component", repo.components),
    ):
        values = sim.walk(f"{repo_path(repo)}/{kind}s")
        assert [v["id"] for v in values] == sorted(table)
        for v in values:
            assert v["type"] == kind and set(v) == {"type", "id", "name", "links"}
        if values:
            one = sim.get(f"{repo_path(repo)}/{kind}s/{values[0]['id']}").json()
            assert one == values[0]


def test_attachments_list_and_one_time_redirect(sim: Sim) -> None:
    repo, issue = next(
        (r, i) for r in sim.world.repositories.values() for i in r.issues.values() if i.attachments
    )
    url = f"{repo_path(repo)}/issues/{issue.id}/attachments"
    listed = sim.walk(url)
    by_date = sorted(issue.attachments, key=lambda a: a.created_on)
    assert [a["name"] for a in listed] == [a.name for a in by_date]
    assert all(set(a) == {"type", "name", "links"} for a in listed)
    assert listed[0]["type"] == "issue_attachment"
    target = issue.attachments[0]
    redirect = sim.get(
        listed[[a["name"] for a in listed].index(target.name)]["links"]["self"]["href"]
    )
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith("http://bitbucket.test/") and "/2.0/" not in location
    first = sim.get(location, token=None)
    assert first.status_code == 200 and first.content == target.content
    assert sim.get(location, token=None).status_code == 404  # one time only
    assert_error(sim.get(f"{url}/no-such-file.txt"), 404)


def test_issue_export_job_flow(sim: Sim) -> None:
    repo = busiest(sim.world, "issues")
    started = sim.post(f"{repo_path(repo)}/issues/export", json={"type": "export"})
    assert started.status_code == 202
    location = started.headers["location"]
    assert location.startswith(f"{BASE}{repo_path(repo)}/issues/export/{repo.slug}-issues-")
    assert location.endswith(".zip")
    running = sim.get(location)
    assert running.status_code == 202
    status = running.json()
    assert status["type"] == "issue_job_status" and status["status"] == "STARTED"
    assert set(status) == {"type", "status", "phase", "total", "count", "pct"}
    done = sim.get(location)
    assert done.status_code == 200 and done.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(done.content)).namelist()
    assert "db-2.0.json" in names
    data = json.loads(zipfile.ZipFile(io.BytesIO(done.content)).read("db-2.0.json"))
    assert {i["id"] for i in data["issues"]} == set(repo.issues)
    assert_error(sim.get(f"{repo_path(repo)}/issues/export/{repo.slug}-issues-999.zip"), 404)
    assert_error(sim.post(f"{repo_path(repo)}/issues/export", token=OUTSIDER_TOKEN), 404)


def test_export_polls_before_ready_is_configurable() -> None:
    world = make_world()
    s = Sim(world, config_for(world, export_polls_before_ready=3))
    try:
        repo = busiest(world, "issues")
        started = s.post(f"{repo_path(repo)}/issues/export", json={"type": "export"})
        location = started.headers["location"]
        codes = [s.get(location).status_code for _ in range(5)]
        assert codes == [202, 202, 202, 200, 200]
    finally:
        s.close()


# --- pull requests -----------------------------------------------------------------------------


def test_pr_list_defaults_to_open_and_repeats_state(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    url = f"{repo_path(repo)}/pullrequests"
    default = {p["id"] for p in sim.walk(url)}
    assert default == {p.id for p in repo.pullrequests.values() if p.state == "OPEN"}
    params = [("state", s) for s in ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")]
    assert {p["id"] for p in sim.walk(url, params=params)} == set(repo.pullrequests)
    merged = [("state", "MERGED"), ("state", "DECLINED")]
    want = {p.id for p in repo.pullrequests.values() if p.state in ("MERGED", "DECLINED")}
    assert {p["id"] for p in sim.walk(url, params=merged)} == want
    assert_error(sim.get(url, params={"state": "BOGUS"}), 400)


def test_pr_list_omits_reviewers_unless_asked(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    url = f"{repo_path(repo)}/pullrequests"
    params = [("state", s) for s in ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")]
    plain = sim.walk(url, params=params)
    assert all("reviewers" not in p and "participants" not in p for p in plain)
    both = params + [("fields", "+values.reviewers,+values.participants")]
    rich = sim.walk(url, params=both)
    for doc in rich:
        pr = repo.pullrequests[doc["id"]]
        assert [r["uuid"] for r in doc["reviewers"]] == pr.reviewer_uuids
        assert [p["user"]["uuid"] for p in doc["participants"]] == [
            p.user_uuid for p in pr.participants
        ]
    only = sim.walk(url, params=params + [("fields", "+values.participants")])
    assert all("participants" in p and "reviewers" not in p for p in only)


def test_pr_q_can_use_reviewers_even_when_they_are_not_returned(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    pr = next(p for p in repo.pullrequests.values() if p.reviewer_uuids)
    nick = sim.world.users[pr.reviewer_uuids[0]].nickname
    params = [("state", s) for s in ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")]
    found = sim.walk(
        f"{repo_path(repo)}/pullrequests", params=params + [("q", f'reviewers.nickname = "{nick}"')]
    )
    want = {
        p.id
        for p in repo.pullrequests.values()
        if any(sim.world.users[u].nickname == nick for u in p.reviewer_uuids)
    }
    assert {p["id"] for p in found} == want and pr.id in want
    assert all("reviewers" not in p for p in found)


def test_single_pr_shape(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    pr = next(p for p in repo.pullrequests.values() if p.merge_commit) or next(
        iter(repo.pullrequests.values())
    )
    doc = sim.get(f"{repo_path(repo)}/pullrequests/{pr.id}").json()
    for key in ("type", "id", "title", "description", "summary", "state", "author", "source"):
        assert key in doc
    for key in ("destination", "merge_commit", "comment_count", "task_count", "reviewers"):
        assert key in doc
    assert doc["type"] == "pullrequest" and "participants" in doc
    assert doc["source"]["commit"]["hash"] == pr.source_commit[:12]
    assert len(doc["destination"]["commit"]["hash"]) == 12
    assert doc["source"]["branch"]["name"] == pr.source_branch
    assert doc["source"]["repository"]["full_name"] == repo.full_name
    assert doc["merge_commit"]["hash"] == pr.merge_commit[:12]
    assert doc["comment_count"] == sum(1 for c in pr.comments if not c.deleted)
    assert doc["summary"]["type"] == "rendered"
    assert doc["links"]["html"]["href"].endswith(f"/{repo.full_name}/pull-requests/{pr.id}")
    assert doc["links"]["self"]["href"] == f"{BASE}{repo_path(repo)}/pullrequests/{pr.id}"
    for p in doc["participants"]:
        assert p["type"] == "participant" and p["role"] in ("PARTICIPANT", "REVIEWER")
    assert_error(sim.get(f"{repo_path(repo)}/pullrequests/9999"), 404)


def test_pr_comments_include_soft_deleted() -> None:
    world = make_world()
    repo = busiest(world, "pullrequests")
    pr = next(p for p in repo.pullrequests.values() if p.comments)
    before = pr.comment_count
    pr.comments[0].deleted = True
    s = Sim(world)
    try:
        values = s.walk(f"{repo_path(repo)}/pullrequests/{pr.id}/comments")
        assert [c["id"] for c in values] == [c.id for c in pr.comments]
        assert values[0]["deleted"] is True and values[0]["content"]["raw"] == ""
        assert values[0]["type"] == "pullrequest_comment"
        assert values[0]["pullrequest"] == {
            "type": "pullrequest",
            "id": pr.id,
            "title": pr.title,
            "links": values[0]["pullrequest"]["links"],
        }
        doc = s.get(f"{repo_path(repo)}/pullrequests/{pr.id}").json()
        assert doc["comment_count"] == before - 1
        one = s.get(f"{repo_path(repo)}/pullrequests/{pr.id}/comments/{pr.comments[0].id}")
        assert one.json()["id"] == pr.comments[0].id
    finally:
        s.close()


def test_pr_activity_is_newest_first_cursor_paged(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    pr = max(repo.pullrequests.values(), key=lambda p: len(p.activity))
    url = f"{repo_path(repo)}/pullrequests/{pr.id}/activity"
    first = sim.get(url, params={"pagelen": 2}).json()
    assert set(first) == {"pagelen", "values", "next"}
    values = sim.walk(url, params={"pagelen": 2})
    kinds = [next(k for k in v if k != "pull_request") for v in values]
    assert kinds == [a.kind for a in reversed(pr.activity)]
    assert all(v["pull_request"]["id"] == pr.id for v in values)
    dates = [v[k].get("date") or v[k].get("created_on") for v, k in zip(values, kinds, strict=True)]
    assert dates == sorted(dates, reverse=True)
    message = assert_error(sim.get(url, params={"pagelen": 60}), 400)
    assert message == "Invalid pagelen"
    assert sim.get(url, params={"pagelen": 50}).status_code == 200


def test_repo_wide_activity(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    values = sim.walk(f"{repo_path(repo)}/pullrequests/activity", params={"pagelen": 50})
    assert len(values) == sum(len(p.activity) for p in repo.pullrequests.values())
    assert {v["pull_request"]["id"] for v in values} == set(repo.pullrequests)
    for v in values:
        assert set(v["pull_request"]) == {"type", "id", "title", "links"}
        assert len(v) == 2
    update = next(v["update"] for v in values if "update" in v)
    assert len(update["source"]["commit"]["hash"]) == 12 and update["author"]["type"] == "user"
    assert_error(sim.get(f"{repo_path(repo)}/pullrequests/activity?pagelen=51"), 400)


def test_pr_commits_and_statuses(sim: Sim) -> None:
    repo = busiest(sim.world, "pullrequests")
    pr = max(repo.pullrequests.values(), key=lambda p: len(p.commit_hashes))
    url = f"{repo_path(repo)}/pullrequests/{pr.id}/commits"
    assert "size" not in sim.get(url, params={"pagelen": 1}).json()
    hashes = [c["hash"] for c in sim.walk(url, params={"pagelen": 1})]
    assert hashes == pr.commit_hashes
    statuses = sim.walk(f"{repo_path(repo)}/pullrequests/{pr.id}/statuses")
    assert [s["key"] for s in statuses] == [
        s.key for s in sorted(repo.statuses.get(pr.source_commit, []), key=lambda s: s.created_on)
    ]
    assert all("uuid" not in s for s in statuses)  # real statuses carry none (issue 12.1)


# --- commits and refs --------------------------------------------------------------------------


def test_commits_walk_is_topological_and_complete(sim: Sim) -> None:
    repo = busiest(sim.world, "commits")
    url = f"{repo_path(repo)}/commits"
    first = sim.get(url, params={"pagelen": 7}).json()
    assert set(first) == {"pagelen", "values", "next"}
    assert "page=" not in first["next"] and "ctx=" in first["next"]
    hashes = [c["hash"] for c in sim.walk(url, params={"pagelen": 7})]
    assert len(hashes) == len(set(hashes))
    reachable = commit_order(
        repo, [*repo.branches.values(), *(t.target for t in repo.tags.values())], []
    )
    assert hashes == reachable
    position = {h: n for n, h in enumerate(hashes)}
    for h in hashes:
        for parent in repo.commits[h].parents:
            if parent in position:
                assert position[h] < position[parent]
    assert set(hashes) <= set(repo.commits)


def test_commit_shape(sim: Sim) -> None:
    repo = busiest(sim.world, "commits")
    c = next(c for c in repo.commits.values() if c.parents)
    doc = sim.get(f"{repo_path(repo)}/commit/{c.hash[:9]}").json()
    assert doc["type"] == "commit" and doc["hash"] == c.hash and doc["date"] == c.date
    assert doc["author"]["raw"] == c.author_raw and doc["author"]["type"] == "author"
    assert ("user" in doc["author"]) == (c.author_uuid is not None)
    assert doc["parents"][0]["hash"] == c.parents[0] and doc["parents"][0]["type"] == "commit"
    assert set(doc["parents"][0]) == {"hash", "type", "links"}
    assert doc["summary"]["raw"] == c.message and doc["message"] == c.message
    assert doc["links"]["self"]["href"] == f"{BASE}{repo_path(repo)}/commit/{c.hash}"
    assert doc["links"]["html"]["href"].endswith(f"/{repo.full_name}/commits/{c.hash}")
    assert_error(sim.get(f"{repo_path(repo)}/commit/abc"), 404)
    assert_error(sim.get(f"{repo_path(repo)}/commit/{'f' * 40}"), 404)


def test_commits_include_exclude_get_and_post(sim: Sim) -> None:
    repo = busiest(sim.world, "commits")
    main = repo.mainbranch
    other = next(b for b in repo.branches if b != main)
    expected = commit_order(repo, [repo.branches[other]], [repo.branches[main]])
    url = f"{repo_path(repo)}/commits"
    got = sim.walk(url, params=[("include", other), ("exclude", main), ("pagelen", 2)])
    assert [c["hash"] for c in got] == expected
    posted = sim.post(url, data={"include": other, "exclude": main}, params={"pagelen": 2})
    assert posted.status_code == 200
    hashes = [c["hash"] for c in posted.json()["values"]]
    nxt = posted.json().get("next")
    while nxt:
        page = sim.get(nxt).json()
        hashes += [c["hash"] for c in page["values"]]
        nxt = page.get("next")
    assert hashes == expected
    on_main = [c["hash"] for c in sim.walk(f"{url}/{main}", params={"pagelen": 100})]
    assert on_main == commit_order(repo, [repo.branches[main]], [])
    assert_error(sim.get(url, params={"include": "no-such-branch"}), 404)
    assert_error(sim.get(f"{url}/no-such-branch"), 404)


def test_commit_statuses_default_to_created_on(sim: Sim) -> None:
    repo, commit_hash = next(
        (r, h) for r in sim.world.repositories.values() for h, s in r.statuses.items() if s
    )
    values = sim.walk(f"{repo_path(repo)}/commit/{commit_hash}/statuses")
    want = sorted(repo.statuses[commit_hash], key=lambda s: s.created_on)
    assert [v["key"] for v in values] == [s.key for s in want]
    assert all(
        v["type"] == "build" and v["state"] in ("SUCCESSFUL", "FAILED", "INPROGRESS", "STOPPED")
        for v in values
    )
    state = want[0].state
    filtered = sim.walk(
        f"{repo_path(repo)}/commit/{commit_hash}/statuses", params={"q": f'state = "{state}"'}
    )
    assert {v["key"] for v in filtered} == {s.key for s in want if s.state == state}


def test_branches_and_tags(sim: Sim) -> None:
    repo = busiest(sim.world, "commits")
    repo.branches.update(
        {"rel2": repo.branches[repo.mainbranch], "rel10": repo.branches[repo.mainbranch]}
    )
    values = sim.walk(f"{repo_path(repo)}/refs/branches")
    assert [b["name"] for b in values] == sorted(repo.branches)
    natural = [
        b["name"] for b in sim.walk(f"{repo_path(repo)}/refs/branches", params={"sort": "name"})
    ]
    assert natural.index("rel2") < natural.index("rel10")
    slashed = next((b for b in repo.branches if "/" in b), repo.mainbranch)
    one = sim.get(f"{repo_path(repo)}/refs/branches/{slashed}").json()
    assert one["type"] == "branch" and one["name"] == slashed
    assert one["target"]["hash"] == repo.branches[slashed]
    assert one["links"]["html"]["href"].endswith(f"/branch/{slashed}")
    q = sim.walk(f"{repo_path(repo)}/refs/branches", params={"q": 'name ~ "rel"'})
    assert {b["name"] for b in q} == {b for b in repo.branches if "rel" in b}
    tags = sim.walk(f"{repo_path(repo)}/refs/tags")
    assert [t["name"] for t in tags] == sorted(repo.tags)
    if tags:
        tag = sim.get(f"{repo_path(repo)}/refs/tags/{tags[0]['name']}").json()
        assert tag["type"] == "tag" and tag["target"]["hash"] == repo.tags[tags[0]["name"]].target
        assert tag["links"]["html"]["href"].endswith(f"/commits/tag/{tags[0]['name']}")
    assert_error(sim.get(f"{repo_path(repo)}/refs/branches/nope"), 404)
    assert_error(sim.get(f"{repo_path(repo)}/refs/tags/nope"), 404)


def test_unknown_route_is_an_error_body(sim: Sim) -> None:
    assert_error(sim.get("/nothing/here"), 404)


def test_measure_a_100_item_pr_page(capsys: pytest.CaptureFixture[str]) -> None:
    """Measures (never asserts) serving 100 PRs in-process; the timing is printed."""
    world = generate(1, "small")
    repo = max(world.repositories.values(), key=lambda r: len(r.pullrequests))
    s = Sim(world, config_for(world))
    try:
        params = [("state", st) for st in ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")]
        params.append(("pagelen", "100"))
        s.get(f"{repo_path(repo)}/pullrequests", params=params)  # warm up
        started = time.perf_counter()
        response = s.get(f"{repo_path(repo)}/pullrequests", params=params)
        elapsed = (time.perf_counter() - started) * 1000
        assert len(response.json()["values"]) == min(100, len(repo.pullrequests))
        with capsys.disabled():
            print(f"\n[measure] 100-item PR page in-process: {elapsed:.1f} ms")
    finally:
        s.close()
