"""Stored JSON keeps only what its row's columns don't; the ``_json`` views give it back."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bbmirror.compact import compact, rebuild
from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.store import Store, schema
from bbmirror.store.db import PAGE_SIZE
from bbmirror.store.schema import MIGRATIONS, SLIM_VIEWS, migrate
from bbmirror.store.slim import COPIES, REF, rebuild_row, restore_object, slim_object

SRC, REPO = "cloud", "{4a70c70a-a23a-432c-a990-1ff84b655508}"


def _rows(conn: sqlite3.Connection, sql: str, args: tuple = ()) -> list[dict]:
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor]


# Session, not module: xdist interleaves modules, and a module fixture is made again each
# time its worker comes back to the module.
@pytest.fixture(scope="session")
def mirror(mirrored) -> str:
    """The session's small Cloud mirror (a plain full sync, shared): read only."""
    return mirrored("cloud", "small").db


def test_column_copies_are_not_stored_and_the_views_give_them_back(mirror):
    conn = sqlite3.connect(mirror)
    stored = conn.execute(
        "select count(*), sum(json_extract(json, '$.content.raw') is null),"
        " sum(json_extract(json, '$.content.html') is null) from comments where body is not null"
    ).fetchone()
    assert stored[0] > 100 and stored[0] == stored[1] == stored[2]
    viewed = conn.execute(
        "select count(*), sum(json_extract(json, '$.content.raw') = body),"
        " sum(json_extract(json, '$.content.html') = body_html),"
        " sum(json_extract(json, '$.user.uuid') = user_id) from comments_json"
        " where body is not null and user_id is not null"
    ).fetchone()
    assert viewed[0] == stored[0] == viewed[1] == viewed[2] == viewed[3]
    commits = conn.execute(
        "select count(*), sum(json_extract(j.json, '$.message') = c.message),"
        " sum(json_extract(c.json, '$.message') is null) from commits c"
        " join commits_json j on j.id = c.id"
    ).fetchone()
    assert commits[0] > 100 and commits[0] == commits[1] == commits[2]


def test_every_view_gives_the_json_rebuild_row_starts_from(mirror):
    """The SQL view, then ``compact.rebuild``, give every row's object as Python does."""
    conn = sqlite3.connect(mirror)
    checked = 0
    for view, _ in SLIM_VIEWS:
        table = view.removesuffix("_json")
        viewed = dict(conn.execute(f"select id, json from [{view}]").fetchall())
        for row in _rows(conn, f"select * from [{table}]"):
            whole = rebuild_row(conn, table, row)
            assert rebuild(json.loads(viewed[row["id"]])) == whole, (table, row["id"])
            checked += 1
    assert checked > 1000


def test_a_parent_row_is_its_commits_parent(mirror):
    """A commit's parents never change: the parent rows keep no JSON of their own."""
    conn = sqlite3.connect(mirror)
    parents = conn.execute(
        "select count(*), sum(p.json = ?), sum(json_extract(v.json, '$.hash') = p.parent_hash)"
        " from commit_parents p join commit_parents_json v on v.id = p.id",
        (json.dumps({"_c": REF}, separators=(",", ":")),),
    ).fetchone()
    assert parents[0] > 100 and parents[0] == parents[1] == parents[2]


def test_an_activity_comment_is_stored_once_in_comments(mirror):
    conn = sqlite3.connect(mirror)
    kinds = conn.execute(
        "select count(*), sum(json_extract(json, '$._c') & ? > 0),"
        " sum(json_extract(json, '$.comment.content') is null) from pullrequest_activity"
        " where kind = 'comment'",
        (REF,),
    ).fetchone()
    assert kinds[0] > 50 and kinds[0] == kinds[1] == kinds[2]
    whole = conn.execute(
        "select count(*), sum(json_extract(a.json, '$.comment.content.raw') = c.body)"
        " from pullrequest_activity_json a join comments c on c.id = a.comment_id"
    ).fetchone()
    assert whole[0] == kinds[0] == whole[1]
    for row in _rows(conn, "select * from pullrequest_activity where kind = 'comment' limit 20"):
        comment = _rows(conn, "select * from comments where id = ?", (row["comment_id"],))[0]
        assert rebuild_row(conn, "pullrequest_activity", row)["comment"] == rebuild_row(
            conn, "comments", comment
        )


def test_an_activity_comment_that_differs_from_the_stored_one_is_kept(tmp_path):
    """An edit the comments list has not shown yet: the entry keeps its own comment until the
    comment is stored as the entry shows it, in whichever order the two are written."""
    comment = {
        "type": "pullrequest_comment",
        "id": 5,
        "content": {"raw": "first", "markup": "markdown", "html": "<p>first</p>"},
        "created_on": "2025-01-01T00:00:00.000000+00:00",
        "pullrequest": {"type": "pullrequest", "id": 1},
    }
    activity = {"comment": {**comment, "content": {**comment["content"], "raw": "edited"}}}
    activity["pull_request"] = {"type": "pullrequest", "id": 1}
    with Store.open(tmp_path / "m.db") as store:
        store.write(cloud_rows.pr_comment(comment, source=SRC, repository_id=REPO))
        store.write(cloud_rows.pr_activity(activity, source=SRC, repository_id=REPO))
        (text,) = store.conn.execute("select json from pullrequest_activity").fetchone()
        assert json.loads(text)["comment"]["content"]["raw"] == "edited"
        edited = {**comment, "content": activity["comment"]["content"]}
        store.write(cloud_rows.pr_comment(edited, source=SRC, repository_id=REPO))
        (text,) = store.conn.execute("select json from pullrequest_activity").fetchone()
        assert json.loads(text)["comment"] == {"id": 5}  # the comment read later, equal now
        store.write(cloud_rows.pr_comment(comment, source=SRC, repository_id=REPO))
        store.write(
            cloud_rows.pr_activity({**activity, "comment": comment}, source=SRC, repository_id=REPO)
        )
        (text,) = store.conn.execute("select json from pullrequest_activity").fetchone()
        assert json.loads(text)["comment"] == {"id": 5}


def test_only_a_value_of_the_columns_own_type_is_dropped():
    """``true`` is not the INTEGER 1, nor the number 7 the text "7": those stay in the JSON."""
    row = {"comment_count": 1, "title": "7", "state": "OPEN"}
    obj = {"comment_count": True, "title": 7, "state": "OPEN", "task_count": 0}
    slim = slim_object("pullrequests", dict(obj), row)
    assert slim == {"comment_count": True, "title": 7, "task_count": 0, "_c": 8}
    assert restore_object("pullrequests", slim, row) == obj


def test_rewriting_an_identical_row_changes_nothing(tmp_path):
    pr = {"id": 1, "title": "First", "state": "OPEN", "description": "Body"}
    with Store.open(tmp_path / "m.db") as store:
        assert store.write(cloud_rows.pullrequest(pr, source=SRC, repository_id=REPO))
        before = store.conn.execute("select json, synced_at from pullrequests").fetchone()
        again = store.write(cloud_rows.pullrequest(pr, source=SRC, repository_id=REPO))
        assert again == {"pullrequests": 0}
        assert store.conn.execute("select json, synced_at from pullrequests").fetchone() == before
        assert json.loads(before[0]) == {"_c": 1 | 2 | 8 | (1 << 18)}
        (view,) = store.conn.execute("select json from pullrequests_json").fetchone()
        assert json.loads(view) == compact(pr)


def test_an_older_database_migrates_and_its_rows_read_the_same(tmp_path, monkeypatch):
    """Rows written before slimming keep their JSON; the views show it unchanged."""
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    slimming = next(i for i, m in enumerate(MIGRATIONS) if m.views is SLIM_VIEWS)
    before_slim = MIGRATIONS[:slimming]
    monkeypatch.setattr(schema, "MIGRATIONS", before_slim)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", before_slim[-1].version)
    migrate(old)
    assert not {f"{t}_json" for t in COPIES} & _views(old)
    monkeypatch.undo()
    whole = {"type": "pullrequest", "id": 3, "title": "Old", "state": "OPEN"}
    old.execute(
        "insert into pullrequests (id, source, number, title, state, json)"
        " values (?, ?, ?, ?, ?, ?)",
        ("r/3", SRC, 3, "Old", "OPEN", json.dumps(whole)),
    )
    assert migrate(old) == len(MIGRATIONS) - len(before_slim)
    (view,) = old.execute("select json from pullrequests_json").fetchone()
    assert json.loads(view) == whole
    assert _views(old) >= {f"{t}_json" for t in COPIES} == {name for name, _ in SLIM_VIEWS}


def _views(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("select name from sqlite_master where type = 'view'")}


def test_a_new_database_has_large_pages_and_vacuum_moves_an_old_one(tmp_path):
    with Store.open(tmp_path / "new.db") as store:
        assert store.conn.execute("pragma page_size").fetchone()[0] == PAGE_SIZE
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("pragma page_size = 4096")
    migrate(old)  # a bbmirror database from before PAGE_SIZE
    old.close()
    with Store.open(tmp_path / "old.db") as store:
        assert store.conn.execute("pragma page_size").fetchone()[0] == 4096
        store.write(cloud_rows.pullrequest({"id": 1, "title": "a"}, source=SRC, repository_id=REPO))
        store.vacuum()
        assert store.conn.execute("pragma page_size").fetchone()[0] == PAGE_SIZE
        assert store.conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        hit = store.conn.execute(
            "select rowid from pullrequests_fts where pullrequests_fts match 'a'"
        )
        assert hit.fetchall() == [(1,)]
