"""The Server/DC simulator's HTTP API: shapes, paging, filters, switches, auth, faults, Jira."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from bbmirror.simulator.common.serving import RunningApp
from bbmirror.simulator.common.transport import SimulatorTransport
from bbmirror.simulator.server import mutate
from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig, DcFaults
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.simulator.server.world import DcRepository, DcSettings, DcWorld, commit_log, jira_keys

ROOT = "http://bitbucket-server.test"
API = "/rest/api/1.0"
TOKEN = "dc-token-s3cret-value"
PASSWORD = "dc-password-s3cret-value"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
Doc = dict[str, Any]


def make_app(world: DcWorld, **kwargs: Any) -> Any:
    slug = world.users[1].slug
    kwargs.setdefault("tokens", {TOKEN: slug})
    kwargs.setdefault("basic", {(slug, PASSWORD): slug})
    return create_dc_app(world, DcConfig(base_url=ROOT, **kwargs))


def call(app: Any, path: str, /, headers: dict | None = BEARER, **params: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = SimulatorTransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=ROOT) as client:
            return await client.get(path, params=params, headers=headers or {})

    return asyncio.run(go())


def ok(app: Any, path: str, /, **params: Any) -> Any:
    response = call(app, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def walk(app: Any, path: str, /, **params: Any) -> list[Doc]:
    """Every value of a paged list, following nextPageStart exactly as Server asks."""
    values: list[Doc] = []
    start = 0
    for _ in range(10_000):
        page = ok(app, path, start=start, **params)
        assert page["size"] == len(page["values"]) and page["start"] == start
        values += page["values"]
        if page["isLastPage"]:
            assert "nextPageStart" not in page
            return values
        start = page["nextPageStart"]
    raise AssertionError("paging never ended")


@pytest.fixture(scope="module")
def world() -> DcWorld:
    return generate_dc(4, "small")


@pytest.fixture(scope="module")
def app(world: DcWorld) -> Any:
    return make_app(world)


def _repo(world: DcWorld, index: int = 0) -> DcRepository:
    return list(world.repositories.values())[index]


def _path(world: DcWorld, repo: DcRepository) -> str:
    return f"{API}/projects/{world.projects[repo.project_id].key}/repos/{repo.slug}"


def _errors(response: httpx.Response) -> list[Doc]:
    body = response.json()
    assert set(body) == {"errors"}
    for e in body["errors"]:
        assert set(e) == {"context", "message", "exceptionName"}
    return body["errors"]


# --- shapes ------------------------------------------------------------------------------------


def test_application_properties_need_no_credentials(app):
    body = call(app, f"{API}/application-properties", headers=None).json()
    assert set(body) == {"version", "buildNumber", "buildDate", "displayName"}


def test_project_repository_and_user_shapes(world, app):
    repo = _repo(world)
    doc = ok(app, _path(world, repo))
    assert doc["id"] == repo.id and doc["slug"] == repo.slug and doc["scmId"] == "git"
    assert doc["state"] == "AVAILABLE" and isinstance(doc["forkable"], bool)
    assert doc["links"]["self"] == [{"href": f"{ROOT}{_path(world, repo)[len(API) :]}/browse"}]
    clone = {c["name"]: c["href"] for c in doc["links"]["clone"]}
    key = world.projects[repo.project_id].key
    assert clone["http"] == f"{ROOT}/scm/{key.lower()}/{repo.slug}.git"
    assert clone["ssh"].startswith("ssh://git@bitbucket-server.test:7999/")
    project = doc["project"]
    assert set(project) >= {"key", "id", "name", "public", "type", "links"}
    assert isinstance(project["links"]["self"], list)
    users = walk(app, f"{API}/users", limit=100)
    assert len(users) == len(world.users)
    assert set(users[0]) == {
        "name", "emailAddress", "id", "displayName", "active", "slug", "type", "links",
    }  # fmt: skip
    one = ok(app, f"{API}/users/{users[3]['slug']}")
    assert one == users[3]


def test_personal_project_and_its_repositories(world, app):
    personal = next(p for p in world.projects.values() if p.type == "PERSONAL")
    listed = [p["key"] for p in walk(app, f"{API}/projects")]
    assert personal.key not in listed  # /projects lists NORMAL projects only
    doc = ok(app, f"{API}/projects/{personal.key.lower()}")
    assert doc["type"] == "PERSONAL" and doc["owner"]["id"] == personal.owner_id
    repos = walk(app, f"{API}/projects/{personal.key}/repos")
    assert repos and all(r["project"]["key"] == personal.key for r in repos)
    assert len(walk(app, f"{API}/repos", limit=3)) == len(world.repositories)


def test_pull_request_shape(world, app):
    repo = _repo(world)
    pr = next(p for p in repo.pull_requests.values() if p.state == "MERGED" and p.reviewers)
    doc = ok(app, f"{_path(world, repo)}/pull-requests/{pr.id}")
    assert (doc["id"], doc["version"], doc["state"]) == (pr.id, pr.version, "MERGED")
    assert doc["open"] is False and doc["closed"] is True
    for name in ("createdDate", "updatedDate", "closedDate"):
        assert isinstance(doc[name], int) and doc[name] > 10**12  # epoch milliseconds
    assert doc["createdDate"] <= doc["updatedDate"]
    assert doc["fromRef"]["repository"]["id"] == repo.id
    assert doc["toRef"]["id"] == f"refs/heads/{repo.default_branch}"
    assert doc["author"]["role"] == "AUTHOR" and doc["author"]["user"]["id"] == pr.author_id
    for r in doc["reviewers"]:
        assert r["role"] == "REVIEWER" and r["approved"] == (r["status"] == "APPROVED")
    visible = list(pr.all_comments())
    assert doc["properties"].get("commentCount", 0) == len(visible)  # absent when zero
    tasks = [c for c in visible if c.severity == "BLOCKER" and c.state == "OPEN"]
    assert doc["properties"]["openTaskCount"] == len(tasks)
    assert doc["links"]["self"][0]["href"].endswith(f"/pull-requests/{pr.id}")
    listed = ok(app, f"{_path(world, repo)}/pull-requests", state="ALL", withProperties="false")
    assert "properties" not in listed["values"][0]
    open_pr = next(p for p in repo.pull_requests.values() if p.state == "OPEN")
    assert "closedDate" not in ok(app, f"{_path(world, repo)}/pull-requests/{open_pr.id}")


def test_activities_embed_threads_rescopes_and_merges(world, app):
    prs = [(r, p) for r in world.repositories.values() for p in r.pull_requests.values()]
    repo, pr = next(
        (r, p)
        for r, p in prs
        if any(c.replies for c in p.comments if not c.deleted)
        and any(a.action == "RESCOPED" for a in p.activities)
    )
    items = walk(app, f"{_path(world, repo)}/pull-requests/{pr.id}/activities")
    assert [i["createdDate"] for i in items] == sorted(
        (i["createdDate"] for i in items), reverse=True
    )
    assert items[-1]["action"] == "OPENED"
    commented = [i for i in items if i["action"] == "COMMENTED"]
    assert all(i["commentAction"] == "ADDED" for i in commented)
    threaded = next(i for i in commented if i["comment"]["comments"])
    reply = threaded["comment"]["comments"][0]
    assert set(reply) >= {"id", "version", "text", "author", "createdDate", "updatedDate"}
    assert reply["severity"] in ("NORMAL", "BLOCKER") and isinstance(reply["comments"], list)
    assert threaded["comment"]["permittedOperations"]["deletable"] is False
    rescoped = next(i for i in items if i["action"] == "RESCOPED")
    assert set(rescoped) >= {"fromHash", "previousFromHash", "previousToHash", "toHash"}
    assert rescoped["added"]["total"] == len(rescoped["added"]["commits"]) >= 1
    shown = {c["id"] for i in commented for c in _flatten(i["comment"])}
    assert shown == {c.id for c in pr.all_comments()}


def _flatten(comment: Doc) -> list[Doc]:
    out = [comment]
    for reply in comment["comments"]:
        out += _flatten(reply)
    return out


def test_deleted_comments_vanish_from_activities():
    w = generate_dc(3, "tiny")
    repo = _repo(w)
    pr = mutate.open_pr(w, repo, __import__("random").Random(1))
    root = mutate.comment_pr(w, pr, 2, "Short-lived")
    app = make_app(w)
    url = f"{_path(w, repo)}/pull-requests/{pr.id}/activities"
    assert any(i["action"] == "COMMENTED" for i in walk(app, url))
    mutate.delete_comment(w, pr, root)
    assert not any(i["action"] == "COMMENTED" for i in walk(app, url))
    comment_url = f"{_path(w, repo)}/pull-requests/{pr.id}/comments/{root.id}"
    assert call(app, comment_url).status_code == 404


def test_commit_branch_tag_shapes(world, app):
    repo = _repo(world)
    base = _path(world, repo)
    branches = walk(app, f"{base}/branches", limit=100)
    assert [b["displayId"] for b in branches] == sorted(repo.branches)
    default = next(b for b in branches if b["isDefault"])
    assert default["id"] == f"refs/heads/{repo.default_branch}"
    assert default["latestCommit"] == default["latestChangeset"]
    assert ok(app, f"{base}/default-branch") == {
        "id": default["id"], "displayId": repo.default_branch, "type": "BRANCH",
    }  # fmt: skip
    tags = walk(app, f"{base}/tags")
    assert tags and all(t["id"] == f"refs/tags/{t['displayId']}" for t in tags)
    assert ok(app, f"{base}/tags/{tags[0]['displayId']}") == tags[0]
    commit = ok(app, f"{base}/commits/{default['latestCommit']}")
    assert commit["id"] == default["latestCommit"] and commit["displayId"] == commit["id"][:11]
    assert isinstance(commit["authorTimestamp"], int) and commit["parents"][0]["id"]
    keys = jira_keys(commit["message"])
    assert commit.get("properties", {}).get("jira-key", []) == keys
    assert ok(app, f"{base}/commits/{commit['id'][:12]}")["id"] == commit["id"]
    assert call(app, f"{base}/commits/refs/heads/{repo.default_branch}").status_code == 404


# --- paging ------------------------------------------------------------------------------------


def test_paging_walks_everything_once_and_clamps_limit(world, app):
    repo = _repo(world)
    url = f"{_path(world, repo)}/pull-requests"
    ids = [p["id"] for p in walk(app, url, state="ALL", limit=7)]
    assert sorted(ids) == sorted(repo.pull_requests) and len(ids) == len(set(ids))
    first = ok(app, url, state="ALL")
    assert first["limit"] == 25 and first["nextPageStart"] == 25 and first["filter"] is None
    assert ok(app, url, state="ALL", limit=5000)["limit"] == 1000
    past = ok(app, url, state="ALL", start=10**6)
    assert past["values"] == [] and past["isLastPage"] is True and "nextPageStart" not in past
    for bad in ("0", "x", "-3"):
        response = call(app, url, limit=bad)
        assert response.status_code == 400 and _errors(response)[0]["context"] == "limit"
    capped = make_app(world, max_limits={"pull-requests": 10})
    assert ok(capped, url, state="ALL", limit=100)["limit"] == 10


def test_sparse_paging_needs_next_page_start():
    w = generate_dc(4, "small", DcSettings(sparse_paging=True))
    app = make_app(w)
    repo = _repo(w)
    url = f"{_path(w, repo)}/pull-requests"
    page = ok(app, url, state="ALL", limit=10)
    assert page["nextPageStart"] != page["start"] + page["size"]
    ids = [p["id"] for p in walk(app, url, state="ALL", limit=10)]
    assert sorted(ids) == sorted(repo.pull_requests)
    naive = ok(app, url, state="ALL", limit=10, start=10)["values"]
    assert naive[0]["id"] == page["values"][5]["id"]  # start + size repeats items


# --- filters and switches ----------------------------------------------------------------------


def test_pull_request_state_filters_and_default_open(world, app):
    repo = _repo(world)
    url = f"{_path(world, repo)}/pull-requests"
    default = walk(app, url, limit=100)
    assert {p["state"] for p in default} == {"OPEN"}
    for state in ("OPEN", "DECLINED", "MERGED"):
        got = {p["id"] for p in walk(app, url, state=state, limit=100)}
        assert got == {p.id for p in repo.pull_requests.values() if p.state == state}
    response = call(app, url, state="BOGUS")
    assert response.status_code == 400 and _errors(response)[0]["context"] == "state"


@pytest.mark.parametrize("newest_by", ["updated", "created"])
def test_order_newest_sorts_by_the_switch(newest_by):
    w = generate_dc(4, "small", DcSettings(newest_by=newest_by))
    app = make_app(w)
    repo = _repo(w)
    url = f"{_path(w, repo)}/pull-requests"
    field = f"{newest_by}Date"
    newest = walk(app, url, state="ALL", limit=100)
    assert [p[field] for p in newest] == sorted((p[field] for p in newest), reverse=True)
    other = "createdDate" if newest_by == "updated" else "updatedDate"
    assert [p[other] for p in newest] != sorted((p[other] for p in newest), reverse=True)
    oldest = walk(app, url, state="ALL", order="OLDEST", limit=100)
    assert [p["id"] for p in oldest] == [p["id"] for p in reversed(newest)]


def test_direction_at_and_filter_text(world, app):
    repo = _repo(world)
    url = f"{_path(world, repo)}/pull-requests"
    incoming = {p["id"] for p in walk(app, url, state="ALL", limit=100)}
    outgoing = {p["id"] for p in walk(app, url, state="ALL", direction="OUTGOING", limit=100)}
    assert incoming == outgoing == set(repo.pull_requests)  # same-repository PRs
    pr = next(iter(repo.pull_requests.values()))
    by_source = walk(app, url, state="ALL", direction="OUTGOING", at=f"refs/heads/{pr.from_branch}")
    assert pr.id in {p["id"] for p in by_source}
    into_default = walk(app, url, state="ALL", at=f"refs/heads/{repo.default_branch}", limit=100)
    assert len(into_default) == len(repo.pull_requests)
    assert walk(app, url, state="ALL", at="refs/heads/no-such-branch") == []
    word = pr.title.split()[-1]
    found = walk(app, url, state="ALL", filterText=word, limit=100)
    assert pr.id in {p["id"] for p in found}
    assert all(word.lower() in (p["title"] + p["description"]).lower() for p in found)


@pytest.mark.parametrize("newest_first", [True, False])
def test_activity_order_switch_and_from_id(newest_first):
    w = generate_dc(4, "small", DcSettings(activities_newest_first=newest_first))
    app = make_app(w)
    repo = _repo(w)
    pr = max(repo.pull_requests.values(), key=lambda p: len(p.activities))
    url = f"{_path(w, repo)}/pull-requests/{pr.id}/activities"
    items = walk(app, url, limit=4)
    ids = [i["id"] for i in items]
    assert ids == sorted(ids, reverse=newest_first)
    third = ids[2]
    page = ok(app, url, fromId=third, fromType="ACTIVITY")
    assert [i["id"] for i in page["values"]] == ids[2:27]
    response = call(app, url, fromId=third)
    assert response.status_code == 400 and _errors(response)[0]["context"] == "fromType"


@pytest.mark.parametrize("need_path", [True, False])
def test_comments_endpoint_and_the_path_switch(need_path):
    w = generate_dc(4, "small", DcSettings(comments_need_path=need_path))
    app = make_app(w)
    repo = _repo(w)
    pr = next(
        p
        for p in repo.pull_requests.values()
        if any(c.anchor for c in p.comments if not c.deleted)
        and any(not c.anchor for c in p.comments if not c.deleted)
    )
    url = f"{_path(w, repo)}/pull-requests/{pr.id}/comments"
    bare = call(app, url)
    roots = [c for c in pr.comments if not c.deleted]
    if need_path:
        assert bare.status_code == 400 and _errors(bare)[0]["context"] == "path"
    else:
        assert {c["id"] for c in bare.json()["values"]} == {c.id for c in roots}
    path = next(c.anchor["path"] for c in roots if c.anchor)
    filed = walk(app, url, path=path)
    assert {c["id"] for c in filed} == {
        c.id for c in roots if c.anchor and c.anchor["path"] == path
    }
    assert all(c["anchor"]["path"] == path for c in filed)


def test_blocker_comments_participants_and_pr_commits(world, app):
    prs = [(r, p) for r in world.repositories.values() for p in r.pull_requests.values()]
    repo, pr = next(
        (r, p) for r, p in prs if any(c.severity == "BLOCKER" for c in p.all_comments())
    )
    base = f"{_path(world, repo)}/pull-requests/{pr.id}"
    tasks = walk(app, f"{base}/blocker-comments")
    assert {t["id"] for t in tasks} == {c.id for c in pr.all_comments() if c.severity == "BLOCKER"}
    for state in ("OPEN", "RESOLVED"):
        assert all(t["state"] == state for t in walk(app, f"{base}/blocker-comments", state=state))
    one = ok(app, f"{base}/blocker-comments/{tasks[0]['id']}")
    assert one["id"] == tasks[0]["id"] and one["severity"] == "BLOCKER"
    plain = next((x for x in pr.all_comments() if x.severity == "NORMAL"), None)
    if plain is not None:
        assert call(app, f"{base}/blocker-comments/{plain.id}").status_code == 404
        assert ok(app, f"{base}/comments/{plain.id}")["id"] == plain.id
    people = walk(app, f"{base}/participants")
    assert people[0]["role"] == "AUTHOR"
    assert len(people) == 1 + len(pr.reviewers) + len(pr.participants)
    commits = walk(app, f"{base}/commits")
    assert [c["id"] for c in commits] == pr.commit_ids
    counted = ok(app, f"{base}/commits", withCounts="true")
    assert counted["totalCount"] == len(pr.commit_ids) and counted["authorCount"] >= 1


def test_commits_until_since_and_merges(world, app):
    repo = _repo(world)
    base = f"{_path(world, repo)}/commits"
    head = repo.branches[repo.default_branch]
    everything = [c["id"] for c in walk(app, base, limit=1000)]
    assert everything == commit_log(repo, head)
    pr = next(p for p in repo.pull_requests.values() if p.state == "MERGED")
    since = [c["id"] for c in walk(app, base, until=head, since=pr.merge_commit, limit=200)]
    assert since == commit_log(repo, head, pr.merge_commit) and pr.merge_commit not in since
    by_name = walk(app, base, until=f"refs/heads/{repo.default_branch}", limit=1000)
    assert [c["id"] for c in by_name] == everything
    merges = walk(app, base, merges="only", limit=1000)
    assert merges and all(len(c["parents"]) == 2 for c in merges)
    plain = walk(app, base, merges="exclude", limit=1000)
    assert len(plain) + len(merges) == len(everything)
    assert call(app, base, merges="sometimes").status_code == 400
    missing = call(app, base, since="0" * 40)
    assert missing.status_code == 404 and _errors(missing)[0]["context"] == "since"
    assert len(walk(app, base, since="0" * 40, ignoreMissing="true", limit=1000)) == len(everything)


# --- Jira and build statuses -------------------------------------------------------------------


def test_jira_issues_for_a_pull_request(world, app):
    repo = _repo(world)
    pr = next(
        p
        for p in repo.pull_requests.values()
        if any(jira_keys(repo.commits[s].message) for s in p.commit_ids)
    )
    issues = ok(app, f"/rest/jira/1.0/projects/API/repos/{repo.slug}/pull-requests/{pr.id}/issues")
    want = {k for s in pr.commit_ids for k in jira_keys(repo.commits[s].message)}
    assert isinstance(issues, list) and {i["key"] for i in issues} == want
    assert all(i["url"] == f"https://jira.example.com/browse/{i['key']}" for i in issues)
    latest = ok(
        app, f"/rest/jira/latest/projects/API/repos/{repo.slug}/pull-requests/{pr.id}/issues"
    )
    assert latest == issues


def test_commits_for_an_issue_key_span_repositories(world, app):
    counts: dict[str, set[int]] = {}
    for repo in world.repositories.values():
        for c in repo.commits.values():
            for key in jira_keys(c.message):
                counts.setdefault(key, set()).add(repo.id)
    key = max(counts, key=lambda k: len(counts[k]))
    sets = walk(app, f"/rest/jira/1.0/issues/{key}/commits", limit=5)
    want = [
        (r.id, c.id)
        for r in world.repositories.values()
        for c in r.commits.values()
        if key in jira_keys(c.message)
    ]
    assert sorted((s["repository"]["id"], s["toCommit"]["id"]) for s in sets) == sorted(want)
    assert len({s["repository"]["id"] for s in sets}) == len(counts[key]) >= 2
    first = sets[0]
    assert set(first) == {"fromCommit", "toCommit", "changes", "links", "repository"}
    assert first["changes"]["values"][0]["path"]["toString"]
    capped = ok(app, f"/rest/jira/1.0/issues/{key}/commits", maxChanges=1)["values"][0]
    assert capped["changes"]["size"] == 1


def test_build_statuses(world, app):
    repo = next(r for r in world.repositories.values() if r.builds)
    sha, builds = next(iter(repo.builds.items()))
    listed = walk(app, f"/rest/build-status/1.0/commits/{sha}")
    assert {b["key"] for b in listed} == {b.key for b in builds}
    assert set(listed[0]) == {"state", "key", "name", "url", "description", "dateAdded"}
    stats = ok(app, f"/rest/build-status/1.0/commits/stats/{sha}")
    assert sum(stats.values()) == len(builds)
    single = ok(app, f"{_path(world, repo)}/commits/{sha}/builds", key=builds[0].key)
    assert single["key"] == builds[0].key and single["commit"]["id"] == sha
    assert single["buildNumber"] == builds[0].build_number
    assert ok(app, "/rest/build-status/1.0/commits/" + "f" * 40)["values"] == []


# --- auth, errors, faults ----------------------------------------------------------------------


def test_auth_bearer_basic_anonymous_and_bad_credentials(world, app):
    repo = next(r for r in world.repositories.values() if not r.public)
    url = _path(world, repo)
    slug = world.users[1].slug
    basic = base64.b64encode(f"{slug}:{PASSWORD}".encode()).decode()
    assert call(app, url, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    anonymous = call(app, url, headers=None)
    assert anonymous.status_code == 401 and _errors(anonymous)[0]["exceptionName"]
    public = [p["key"] for p in call(app, f"{API}/projects", headers=None).json()["values"]]
    assert public == [p.key for p in world.projects.values() if p.public and p.type == "NORMAL"]
    assert call(app, f"{API}/users", headers=None).status_code == 401
    for header in ("Bearer wrong-token", "Basic " + base64.b64encode(b"x:y").decode(), "Magic"):
        bad = call(app, url, headers={"Authorization": header})
        assert bad.status_code == 401 and TOKEN not in bad.text and "wrong-token" not in bad.text
        assert "Authentication failed" in _errors(bad)[0]["message"]
    closed = make_app(world, allow_anonymous=False)
    assert call(closed, f"{API}/projects", headers=None).status_code == 401
    assert call(closed, f"{API}/application-properties", headers=None).status_code == 200
    denied = make_app(world, deny=(r"/pull-requests/\d+/activities$",))
    response = call(denied, f"{url}/pull-requests/1/activities")
    assert response.status_code == 401 and call(denied, f"{url}/pull-requests/1").status_code == 200


def test_not_found_errors(world, app):
    repo = _repo(world)
    cases = {
        f"{API}/projects/NOPE": "project.NoSuchProjectException",
        f"{API}/projects/NOPE/repos/x": "project.NoSuchProjectException",
        f"{_path(world, repo)[: -len(repo.slug)]}missing": "repository.NoSuchRepositoryException",
        f"{_path(world, repo)}/pull-requests/99999": "pull.NoSuchPullRequestException",
        f"{_path(world, repo)}/commits/{'0' * 40}": "commit.NoSuchCommitException",
        f"{API}/users/nobody-here": "user.NoSuchUserException",
    }
    for path, exception in cases.items():
        response = call(app, path)
        assert response.status_code == 404, path
        assert _errors(response)[0]["exceptionName"].endswith(exception)
    unknown = call(app, f"{API}/no/such/resource")
    assert unknown.status_code == 404 and _errors(unknown)[0]["context"] is None


def test_request_log_labels_credentials_without_secrets(world):
    app = make_app(world)
    call(app, f"{API}/projects")
    call(app, f"{API}/projects", headers={"Authorization": "Bearer nope"})
    call(app, f"{API}/projects", headers=None)
    labels = [(r.path, r.status, r.credential) for r in app.state.request_log]
    assert labels == [
        (f"{API}/projects", 200, "token#1"),
        (f"{API}/projects", 401, "token#invalid"),
        (f"{API}/projects", 200, "anonymous"),
    ]
    assert TOKEN not in repr(app.state.request_log)


def test_injected_faults_use_server_error_bodies(world):
    app = make_app(world, faults=DcFaults(fault_rate=1.0, fault_kinds=("503",)))
    response = call(app, f"{API}/projects")
    assert response.status_code == 503
    assert _errors(response)[0]["message"] == "Service unavailable"
    assert int(response.headers["content-length"]) == len(response.content)
    app.state.faults = DcFaults(fault_rate=1.0, fault_kinds=("drop",))
    with pytest.raises(httpx.RemoteProtocolError):
        call(app, f"{API}/projects")
    assert app.state.request_log[-1].status == 0
    app.state.faults = DcFaults(latency=0.001)
    assert call(app, f"{API}/projects").status_code == 200
    assert app.state.faults.counters["delayed"] == 1


def test_token_bucket_rate_limit_answers_429_with_retry_after(world):
    now = [100.0]
    faults = DcFaults(capacity=3, fill_rate=0.5, clock=lambda: now[0])
    app = make_app(world, faults=faults)
    statuses = [call(app, f"{API}/projects").status_code for _ in range(3)]
    refused = call(app, f"{API}/projects")
    assert statuses == [200, 200, 200] and refused.status_code == 429
    assert refused.headers["Retry-After"] == "2" and _errors(refused)[0]["message"]
    assert call(app, f"{API}/projects", headers=None).status_code == 200  # its own bucket
    now[0] += 2.0
    assert call(app, f"{API}/projects").status_code == 200
    assert call(app, f"{API}/projects").status_code == 429
    assert faults.counters["rate_limited"] == 2


def test_mutations_show_up_over_http():
    w = generate_dc(5, "tiny")
    app = make_app(w)
    repo = _repo(w)
    url = f"{_path(w, repo)}/pull-requests"
    pr = mutate.open_pr(w, repo, __import__("random").Random(2))
    newest = ok(app, url)["values"][0]
    assert newest["id"] == pr.id and newest["version"] == 0
    mutate.comment_pr(w, pr, 2, "A fresh comment")
    doc = ok(app, f"{url}/{pr.id}")
    assert doc["updatedDate"] == pr.updated and doc["properties"]["commentCount"] == 1
    mutate.delete_pr(w, repo, pr)
    assert call(app, f"{url}/{pr.id}").status_code == 404


def test_context_path_and_latest_alias(world):
    app = create_dc_app(world, DcConfig(base_url=ROOT + "/bitbucket", tokens={TOKEN: "x"}))
    body = ok(app, "/bitbucket/rest/api/latest/projects")
    assert body["values"][0]["links"]["self"][0]["href"].startswith(ROOT + "/bitbucket/projects/")
    assert call(app, f"{API}/projects").status_code == 404


def test_served_on_a_loopback_port(world):
    config = {"tokens": {TOKEN: world.users[1].slug}}
    with RunningApp(lambda root: create_dc_app(world, DcConfig(base_url=root, **config))) as sim:
        response = httpx.get(f"{sim.base_url}{API}/projects", headers=BEARER)
        assert response.status_code == 200
        assert response.json()["values"][0]["links"]["self"][0]["href"].startswith(sim.root)
        assert sim.request_log[-1].credential == "token#1"
