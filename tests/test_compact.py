"""Stored JSON drops derivable links and rendered duplicates, and rebuild() gives them back."""

from __future__ import annotations

import json
import sqlite3
from urllib.parse import urlsplit

import pytest
import realcorpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bbmirror import rows
from bbmirror.compact import _API, _REPO, _scan, compact, rebuild
from bbmirror.store import Store
from bbmirror.store.slim import rebuild_row


def _objects(node, found: list) -> list:
    """Every JSON object inside a served body, nested ones included."""
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            _objects(value, found)
    elif isinstance(node, list):
        for value in node:
            _objects(value, found)
    return found


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True)


# Session, not module: xdist interleaves modules, and a module fixture is made again each
# time its worker comes back to the module.
@pytest.fixture(scope="session")
def synced(mirrored):
    """The session's small Cloud mirror: (database path, every distinct object it was served)."""
    shared = mirrored("cloud", "small")  # a plain full sync, shared: read only
    every = (obj for body in shared.served for obj in _objects(json.loads(body), []))
    # Each distinct object once (a user or a link recurs thousands of times): same proof, less work.
    served = list({_canon(obj): obj for obj in every}.values())
    return shared.db, served


def _json_tables(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
    return [
        t for t in names if any(c[1] == "json" for c in conn.execute(f"pragma table_info([{t}])"))
    ]


def _rows(conn: sqlite3.Connection, table: str) -> list[dict]:
    cursor = conn.execute(f"select * from [{table}]")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor]


def test_every_served_object_survives_compact_then_rebuild(synced):
    """The proof of losslessness: every object of every kind the simulator renders."""
    _, served = synced
    kinds = set()
    for obj in served:
        assert rebuild(compact(obj)) == obj
        kinds.add(obj.get("type"))
    # the kinds the simulator serves to a sync are all here
    assert {"commit", "pullrequest", "pullrequest_comment", "issue", "issue_comment"} <= kinds
    assert {"issue_change", "user", "repository", "branch", "build", "participant"} <= kinds


def test_every_stored_row_rebuilds_to_an_object_the_api_served(synced):
    """What a row keeps is enough to give back exactly what Bitbucket sent."""
    db, served = synced
    seen = {_canon(obj) for obj in served}
    conn = sqlite3.connect(db)
    checked = 0
    for table in _json_tables(conn):
        if table in {"pullrequest_commits", "sync_errors"}:
            continue  # the row's JSON is built by bbmirror ({type, hash}) or an error record
        for row in _rows(conn, table):
            if row["json"] is None:
                continue
            whole = rebuild_row(conn, table, row)
            assert _canon(whole) in seen, (table, row["json"][:300])
            checked += 1
    assert checked > 1000


def test_derivable_links_and_rendered_duplicates_are_not_stored(synced):
    """Links that follow from ids and copies of the message take no space in the database."""
    db, served = synced
    conn = sqlite3.connect(db)
    stored = sum(
        conn.execute(f"select coalesce(sum(length(json)), 0) from [{t}]").fetchone()[0]
        for t in _json_tables(conn)
    )
    for table in ("commits", "comments", "pullrequests", "pullrequest_activity"):
        hrefs = conn.execute(f"select count(*) from [{table}] where json like '%\"href\"%'")
        assert hrefs.fetchone()[0] == 0, table
    dup = "select count(*) from commits where json_extract(json, '$.summary.raw') is not null"
    assert conn.execute(dup).fetchone()[0] == 0
    rebuilt = sum(
        len(json.dumps(rebuild_row(conn, t, row), ensure_ascii=False, separators=(",", ":")))
        for t in _json_tables(conn)
        for row in _rows(conn, t)
        if row["json"] is not None
    )
    assert stored < 0.6 * rebuilt


def test_stored_json_stays_queryable_with_json_extract(synced):
    """Datasette users keep json_extract over every key, through the tables' ``_json`` views."""
    db, _ = synced
    conn = sqlite3.connect(db)
    commits = conn.execute(
        "select count(*), sum(json_extract(json, '$.author.user.uuid') = author_id),"
        " sum(json_extract(json, '$.message') = message),"
        " sum(json_extract(json, '$._links.repo') is not null) from commits_json"
        " where author_id is not null"
    ).fetchone()
    assert commits[0] > 0 and commits[0] == commits[1] == commits[2] == commits[3]
    prs = conn.execute(
        "select count(*), sum(json_extract(json, '$.title') = title),"
        " sum(json_extract(json, '$.summary.html') = description_html) from pullrequests_json"
    ).fetchone()
    assert prs[0] > 0 and prs[0] == prs[1] == prs[2]


@pytest.mark.parametrize("kind", sorted(realcorpus.cloud()))
def test_real_cloud_payloads_survive_compact_then_rebuild(kind):
    """Captured Bitbucket responses (real avatar and CDN URLs) lose nothing."""
    for obj in realcorpus.cloud()[kind]:
        assert rebuild(compact(obj)) == obj


def test_a_link_that_does_not_follow_from_ids_is_kept_as_sent():
    """A CDN avatar is not derivable: the user's links stay whole."""
    user = {
        "type": "user",
        "uuid": "{0d6e6d7c-8a59-4d3f-a2a4-0ad1f1b8a6c1}",
        "links": {
            "self": {
                "href": "https://api.bitbucket.org/2.0/users/%7B0d6e6d7c-8a59-4d3f-a2a4-0ad1f1b8a6c1%7D"
            },
            "avatar": {"href": "https://avatar-management.example.net/initials/AB-3.png"},
        },
    }
    commit = {"type": "commit", "hash": "a" * 40, "author": {"type": "author", "user": user}}
    assert compact(commit)["author"]["user"]["links"] == user["links"]
    assert rebuild(compact(commit)) == commit


_KEYS = st.sampled_from(
    [
        "links",
        "href",
        "self",
        "html",
        "avatar",
        "type",
        "id",
        "hash",
        "uuid",
        "name",
        "full_name",
        "repository",
        "pullrequest",
        "issue",
        "summary",
        "raw",
        "message",
        "rendered",
        "description",
        "title",
        "_dup",
        "parent",
        "commits",
    ]
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(
        [
            "a",
            "commit",
            "user",
            "repository",
            "pullrequest",
            "a/b",
            "{u}",
            "x" * 12,
            "http://h/2.0/repositories/a/b",
            "https://w/a/b",
            "http://h/2.0/users/%7Bu%7D",
        ]
    ),
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@settings(suppress_health_check=[HealthCheck.too_slow])  # drawing is slow on a loaded machine
@given(st.dictionaries(_KEYS, _JSON, max_size=6))
def test_compact_never_changes_what_rebuild_gives_back(obj):
    """For any object (no top-level ``_links``, which the API never sends), nothing is lost."""
    assert rebuild(compact(obj)) == obj
    assert rebuild(obj) == obj  # an object stored before compaction reads as it was


def test_a_condensed_user_reference_keeps_the_full_profiles_links(tmp_path):
    """``users`` rows merge with json_patch: their links stay an object a reference can't erase."""
    uuid = "{0d6e6d7c-8a59-4d3f-a2a4-0ad1f1b8a6c1}"
    key = "%7B0d6e6d7c-8a59-4d3f-a2a4-0ad1f1b8a6c1%7D"
    api, web = "https://api.bitbucket.org/2.0", "https://bitbucket.org"
    condensed = {
        "display_name": "Ann",
        "links": {
            "self": {"href": f"{api}/users/{key}"},
            "html": {"href": f"{web}/{key}/"},
            "avatar": {"href": f"{web}/account/{key}/avatar/"},
        },
        "type": "user",
        "uuid": uuid,
    }
    full = {
        **condensed,
        "links": {**condensed["links"], "repositories": {"href": f"{api}/repositories/{key}"}},
        "created_on": "2015-01-01T00:00:00+00:00",
    }
    with Store.open(tmp_path / "m.db") as store:
        store.write(rows.user(full, source="cloud"))
        store.write(rows.user(condensed, source="cloud"))
        (text,) = store.conn.execute("select json from users").fetchone()
    assert rebuild(json.loads(text)) == full


def test_on_bitbucket_org_only_the_repository_is_kept_for_the_links():
    """Cloud's own API and web bases are not repeated in every row."""
    api, web = "https://api.bitbucket.org/2.0", "https://bitbucket.org"
    parent = {
        "hash": "b" * 40,
        "type": "commit",
        "links": {
            "self": {"href": f"{api}/repositories/ws/repo/commit/{'b' * 40}"},
            "html": {"href": f"{web}/ws/repo/commits/{'b' * 40}"},
        },
    }
    stored = compact(parent)
    assert stored["_links"] == {"repo": "ws/repo"}
    assert stored["links"] == ["self", "html"]
    assert rebuild(stored) == parent


def test_an_object_whose_links_cannot_be_rebuilt_is_kept_as_sent():
    """A null href "matches" a template that lacks a value, but rebuilding it fails: keep it."""
    user = {"type": "user", "links": {"self": {"href": None}}}  # no uuid for {uuid}
    assert compact(user) is user
    commit = {"type": "commit", "hash": "a" * 40, "author": {"user": user}, "message": "m"}
    commit["summary"] = {"raw": "m"}  # a duplicate that would drop, with the bad link beside it
    assert compact(commit) is commit


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _JSON, max_size=6))
def test_compact_leaves_its_input_alone_and_returns_it_when_nothing_drops(obj):
    """``compact`` shares what it keeps with its input: it must never change that input."""
    before = json.dumps(obj)
    out = compact(obj)
    assert json.dumps(obj) == before
    assert json.dumps(compact(json.loads(before))) == json.dumps(out)  # a fresh copy: the same
    if "_links" not in out:
        assert out is obj


def _every_href(node, name: str = ""):
    """Each (name of the link, href) in ``node``, depth first: the plain definition."""
    if isinstance(node, list):
        for value in node:
            yield from _every_href(value, name)
    elif isinstance(node, dict):
        if isinstance(node.get("href"), str):
            yield name, node["href"]
        for key, value in node.items():
            yield from _every_href(value, key)


_URLS = st.sampled_from(
    ["http://h/2.0/repositories/a/b", "https://w/a/b", "http://h/2.0/users/%7Bu%7D", "x", "/"]
)
_LINKED = st.recursive(
    st.fixed_dictionaries({"href": _URLS}),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["html", "self", "links", "a"]), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["html", "self", "links", "repository"]), _LINKED))
def test_the_bases_are_guessed_from_the_first_fitting_hrefs(obj):
    """The guess stops early once it has all three bases: it finds what a full pass finds."""
    api = next((m.group(1) for _, h in _every_href(obj) if (m := _API.match(h))), None)
    repo = next((m.group(1) for _, h in _every_href(obj) if (m := _REPO.search(h))), None)
    web = next((h for name, h in _every_href(obj) if name == "html"), None)
    base: dict = {}
    _scan(obj, "", base)
    assert base.get("api") == api and base.get("repo") == repo
    assert base.get("web") == (web and "{0.scheme}://{0.netloc}".format(urlsplit(web)))
