"""The Store: upserts, merges, tombstones, transactions, open errors, sync state, writer lock."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbmirror import rows
from bbmirror.flavours.cloud import rows as cloud_rows
from bbmirror.flavours.cloud import rows_git as cloud_git
from bbmirror.flavours.cloud import rows_issues as cloud_issues
from bbmirror.rows import combine
from bbmirror.store import Store, StoreError, SyncState

SRC = "cloud"
REPO = "{repo}"
FULL_USER = {
    "type": "user",
    "uuid": "{u1}",
    "account_id": "557058:u1",
    "nickname": "ann",
    "display_name": "Ann Example",
    "created_on": "2015-01-01T00:00:00+00:00",
    "location": "Oslo",
}
CONDENSED_USER = {"type": "user", "uuid": "{u1}", "display_name": "Ann Example"}


def commit_obj(i: int, message: str | None = None) -> dict:
    return {
        "type": "commit",
        "hash": f"{i:040x}",
        "date": "2024-05-01T10:00:00+02:00",
        "message": message or f"fix bug number {i} in the parser",
        "author": {"raw": "Ann <ann@example.com>", "user": CONDENSED_USER},
        "parents": [{"hash": f"{i - 1:040x}", "type": "commit"}] if i else [],
    }


def commits(n: int, start: int = 0) -> rows.RowSet:
    return combine(
        *(cloud_git.commit(commit_obj(i), source=SRC, repository_id=REPO) for i in range(start, n))
    )


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "m.db") as s:
        yield s


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    """Bytes, mtime and sibling files: what 'left untouched' means."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


# -- write -------------------------------------------------------------------------------


def test_upsert_counts_inserts_identical_and_changed_rows(store):
    pr = {"id": 1, "title": "First", "state": "OPEN", "author": FULL_USER}
    assert store.write(cloud_rows.pullrequest(pr, source=SRC, repository_id=REPO)) == {
        "users": 1,
        "pullrequests": 1,
    }
    first = store.conn.execute("SELECT synced_at, json FROM pullrequests").fetchone()
    assert store.write(cloud_rows.pullrequest(pr, source=SRC, repository_id=REPO)) == {
        "users": 0,
        "pullrequests": 0,
    }
    assert store.conn.execute("SELECT synced_at, json FROM pullrequests").fetchone() == first
    changed = {**pr, "title": "First, renamed"}
    counts = store.write(cloud_rows.pullrequest(changed, source=SRC, repository_id=REPO))
    assert counts == {"users": 0, "pullrequests": 1}
    row = store.conn.execute("SELECT title, json, synced_at FROM pullrequests_json").fetchone()
    assert row[0] == "First, renamed"
    assert json.loads(row[1]) == changed
    assert row[2] >= first[0]
    assert store.count("pullrequests") == 1


def test_many_rows_in_one_write_are_counted(store):
    assert store.write(commits(50)) == {"commits": 50, "commit_parents": 49, "users": 1}
    assert store.write(commits(60)) == {"commits": 10, "commit_parents": 10, "users": 0}
    assert store.count("commits") == 60


def test_merge_keeps_richer_user_data(store):
    store.write(rows.user(FULL_USER, source=SRC))
    # a condensed reference (as embedded in a commit) must not erase the profile
    assert store.write(rows.user(CONDENSED_USER, source=SRC)) == {"users": 0}
    row = store.conn.execute(
        "SELECT account_id, nickname, created_on, json FROM users WHERE id = '{u1}'"
    ).fetchone()
    assert row[:3] == ("557058:u1", "ann", "2015-01-01T00:00:00.000000+00:00")
    assert json.loads(row[3])["location"] == "Oslo"
    # a real change still lands, and is counted
    renamed = {**CONDENSED_USER, "display_name": "Ann Renamed"}
    assert store.write(rows.user(renamed, source=SRC)) == {"users": 1}
    row = store.conn.execute("SELECT display_name, nickname, json FROM users").fetchone()
    assert row[:2] == ("Ann Renamed", "ann")
    assert json.loads(row[2]) == {**FULL_USER, "display_name": "Ann Renamed"}


def test_without_merge_a_null_overwrites(store):
    store.write(rows.user(FULL_USER, source=SRC))
    store.write(rows.user(CONDENSED_USER, source=SRC), merge_tables=())
    assert store.conn.execute("SELECT nickname FROM users").fetchone()[0] is None


def test_attachment_bytes_survive_a_metadata_only_relist(store):
    meta = {"type": "issue_attachment", "name": "a.txt", "links": {}}
    kw = {"source": SRC, "repository_id": REPO, "issue_id": f"{REPO}/issue/1"}
    store.write(cloud_issues.issue_attachment(meta, content=b"data", **kw))
    assert store.write(cloud_issues.issue_attachment(meta, **kw)) == {"issue_attachments": 0}
    assert store.conn.execute("SELECT content, size FROM issue_attachments").fetchone() == (
        b"data",
        4,
    )


def test_write_rejects_unknown_tables_and_columns(store):
    with pytest.raises(ValueError, match="not a mirrored table"):
        store.write({"sync_runs": [{"id": 1}]})
    with pytest.raises(ValueError, match="colour"):
        store.write({"branches": [{"id": "x", "source": SRC, "json": "{}", "colour": "red"}]})


# -- tombstones --------------------------------------------------------------------------


def test_tombstone_and_reappearance(store):
    store.write(commits(5))
    alive = store.ids("commits", {"repository_id": REPO})
    assert len(alive) == 5
    keep = set(sorted(alive)[:3])
    assert store.tombstone("commits", {"repository_id": REPO}, keep, "2024-06-01T00:00:00Z") == 2
    assert store.ids("commits", {"repository_id": REPO}) == keep
    assert store.count("commits") == 3
    assert store.count("commits", include_deleted=True) == 5
    gone = store.conn.execute("SELECT deleted_at FROM commits WHERE deleted_at IS NOT NULL")
    assert {r[0] for r in gone} == {"2024-06-01T00:00:00.000000+00:00"}
    # tombstoning again does not move the deletion time or count twice
    assert store.tombstone("commits", {"repository_id": REPO}, keep, "2024-07-01T00:00:00Z") == 0
    # other scopes are untouched
    assert store.tombstone("commits", {"repository_id": "{other}"}, set(), "2024-07-01") == 0
    # the rows come back: tombstones cleared, and that counts as a change
    counts = store.write(commits(5))
    assert counts["commits"] == 2
    assert store.count("commits") == 5
    assert (
        store.conn.execute("SELECT count(*) FROM commits WHERE deleted_at IS NOT NULL").fetchone()[
            0
        ]
        == 0
    )


def test_tombstone_ids(store):
    store.write(commits(3))
    ids = sorted(store.ids("commits"))
    assert store.tombstone_ids("commits", [ids[0], "missing"], "2024-01-01T00:00:00Z") == 1
    assert store.tombstone_ids("commits", [ids[0]], "2025-01-01T00:00:00Z") == 0
    assert store.ids("commits") == set(ids[1:])


def test_tombstone_with_a_large_keep_set(store):
    store.write(commits(300))
    keep = store.ids("commits") - {rows.commit_key(REPO, f"{7:040x}")}
    keep |= {f"not-there-{i}" for i in range(5000)}
    assert store.tombstone("commits", {"repository_id": REPO}, keep, "2024-01-01") == 1


# -- transactions ------------------------------------------------------------------------


def test_transaction_rollback_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.write(commits(10))
        store.put_state(SyncState(SRC, REPO, "commits", watermark="2024-01-01"))
        raise RuntimeError("crash mid-page")
    assert store.count("commits", include_deleted=True) == 0
    assert store.count("users", include_deleted=True) == 0
    assert store.get_state(SRC, REPO, "commits") is None
    assert not store.conn.in_transaction
    # and the store still works afterwards
    with store.transaction():
        store.write(commits(2))
        store.put_state(SyncState(SRC, REPO, "commits", watermark="w"))
    assert store.count("commits") == 2
    assert store.get_state(SRC, REPO, "commits").watermark == "w"


def test_transaction_commits_are_visible_to_other_connections(store):
    with store.transaction():
        store.write(commits(3))
        other = sqlite3.connect(store.path)
        assert other.execute("SELECT count(*) FROM commits").fetchone()[0] == 0
    assert other.execute("SELECT count(*) FROM commits").fetchone()[0] == 3
    other.close()


# -- sync state, run log -----------------------------------------------------------------


def test_sync_state_round_trip(store):
    assert store.get_state(SRC, REPO, "pullrequests") is None
    state = SyncState(
        SRC,
        REPO,
        "commits",
        watermark="2024-05-01T08:00:00.000000+00:00",
        resume="https://api.bitbucket.org/2.0/repositories/a/b/commits?page=xyz",
        heads={"main": "abc", "dev": "def"},
        extra={"pages": 3},
    )
    store.put_state(state)
    got = store.get_state(SRC, REPO, "commits")
    assert got is not None and got.updated_at
    assert (got.watermark, got.resume, got.heads, got.extra) == (
        state.watermark,
        state.resume,
        {"main": "abc", "dev": "def"},
        {"pages": 3},
    )
    store.put_state(SyncState(SRC, REPO, "commits", watermark="later"))
    got = store.get_state(SRC, REPO, "commits")
    assert (got.watermark, got.resume, got.heads) == ("later", None, {})
    assert store.count("sync_state") == 1


def test_run_log_and_errors(store):
    options = {"full": True, "author": "ann", "api_token": "s3cret", "auth": {"password": "pw"}}
    run = store.start_run(SRC, options)
    err = store.record_error(run, SRC, "pullrequests", "pull request has no 'id'", '{"x": 1}')
    store.finish_run(run, "partial", {"pullrequests": 4}, requests=12, errors=1, message="1 bad")
    row = store.conn.execute(
        "SELECT source, outcome, options, rows, requests, errors, message, started_at,"
        " finished_at, pid FROM sync_runs WHERE id = ?",
        (run,),
    ).fetchone()
    assert row[:2] == (SRC, "partial")
    assert "s3cret" not in row[2] and "pw" not in row[2]
    assert json.loads(row[2])["full"] is True
    assert json.loads(row[2])["author"] == "ann"
    assert json.loads(row[3]) == {"pullrequests": 4}
    assert row[4:7] == (12, 1, "1 bad")
    assert row[7] <= row[8]
    assert row[9] == os.getpid()
    assert store.conn.execute(
        "SELECT run_id, stream, reason, payload FROM sync_errors WHERE id = ?", (err,)
    ).fetchone() == (run, "pullrequests", "pull request has no 'id'", '{"x": 1}')


def test_put_source_drops_credentials_from_urls(store):
    store.put_source("dc", "server", "https://bob:hunter2@bitbucket.example.com:8443/ctx")
    assert store.conn.execute("SELECT kind, base_url FROM sources").fetchone() == (
        "server",
        "https://bitbucket.example.com:8443/ctx",
    )


# -- opening: errors leave files untouched -----------------------------------------------


def test_open_creates_wal_database_and_reopens(tmp_path):
    path = tmp_path / "new.db"
    with Store.open(path) as s:
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        s.write(commits(2))
    with Store.open(path, readonly=True) as ro:
        assert ro.count("commits") == 2
        with pytest.raises(StoreError, match="read-only"):
            ro.write(commits(3))
        with pytest.raises(StoreError, match="read-only"):
            ro.acquire_writer_lock()


def test_missing_directory(tmp_path):
    path = tmp_path / "nope" / "m.db"
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(path)
    assert not path.parent.exists()


def test_unwritable_directory(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="not writable"):
            Store.open(d / "m.db")
        assert os.listdir(d) == []
    finally:
        d.chmod(0o755)


def test_missing_file_read_only(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "m.db", readonly=True)
    assert os.listdir(tmp_path) == []


def test_read_only_file(tmp_path):
    path = tmp_path / "m.db"
    Store.open(path).close()
    path.chmod(0o444)
    before = snapshot(path)
    with pytest.raises(StoreError, match="read-only"):
        Store.open(path)
    assert snapshot(path) == before
    with Store.open(path, readonly=True) as ro:  # still readable
        assert ro.count("commits") == 0


def _refused_untouched(path: Path, says: str, prepare: str | None = None) -> None:
    """After `prepare` (SQL run on `path`), opening it fails clearly and leaves it byte for byte."""
    if prepare:
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(prepare)
    before = snapshot(path)
    with pytest.raises(StoreError, match=says):
        Store.open(path)
    assert snapshot(path) == before


def test_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    _refused_untouched(path, "not a SQLite database")


def test_someone_elses_sqlite_database(tmp_path):
    path = tmp_path / "other.db"
    _refused_untouched(path, "not a bbmirror one", "CREATE TABLE contacts (name TEXT)")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "m.db"
    Store.open(path).close()
    future = "INSERT INTO _migrations VALUES (999, 'from the future', '2030-01-01')"
    _refused_untouched(path, "upgrade bbmirror", future)


def test_locked_database(tmp_path):
    path = tmp_path / "m.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")  # another writer, mid-transaction
    try:
        before = snapshot(path)
        with pytest.raises(StoreError, match="locked by another process"):
            Store.open(path, busy_timeout=0.05)
        assert snapshot(path) == before
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_wal_database_reads_but_cannot_write(tmp_path):
    path = tmp_path / "m.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(path, busy_timeout=0.05) as s:
            assert s.count("commits") == 0
            with pytest.raises(StoreError, match="locked"):
                s.write(commits(1))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- the writer lock across processes ----------------------------------------------------

HOLDER = """
import sys, time
from bbmirror.store import Store
s = Store.open(sys.argv[1])
s.acquire_writer_lock()
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_writer_lock_blocks_a_second_process_until_the_holder_is_killed(tmp_path):
    path = tmp_path / "m.db"
    Store.open(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Store.open(path) as s:
            with pytest.raises(StoreError, match=f"pid {holder.pid}"):
                s.acquire_writer_lock()
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            s.acquire_writer_lock()  # the dead holder's lock is gone
            assert Path(f"{path}.lock").read_text().split()[0] == str(os.getpid())  # pid beat
            with Store.open(path) as second, pytest.raises(StoreError, match="another bbmirror"):
                second.acquire_writer_lock()  # same process, second store: still exclusive
        with Store.open(path) as third:  # closing the store released it
            third.acquire_writer_lock()
            third.release_writer_lock()
            third.release_writer_lock()  # idempotent
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


# -- speed (printed, never asserted) -----------------------------------------------------


@pytest.mark.slow
def test_write_throughput_against_plain_executemany(tmp_path):
    rs = commits(5000)
    n = sum(len(v) for v in rs.values())
    with Store.open(tmp_path / "a.db") as a, Store.open(tmp_path / "b.db") as b:
        start = time.perf_counter()
        counts = a.write(rs)
        upsert = time.perf_counter() - start

        start = time.perf_counter()
        with b.transaction():
            for table, table_rows in rs.items():
                cols = a._data_columns(table)
                names = ", ".join(f"[{c}]" for c in (*cols, "synced_at"))
                marks = ", ".join("?" for _ in range(len(cols) + 1))
                b.conn.executemany(
                    f"INSERT OR IGNORE INTO [{table}] ({names}) VALUES ({marks})",
                    [tuple(r.get(c) for c in cols) + ("now",) for r in table_rows],
                )
        plain = time.perf_counter() - start

        start = time.perf_counter()
        again = a.write(rs)
        noop = time.perf_counter() - start
    assert counts["commits"] == 5000 and again == {t: 0 for t in counts}
    print(
        f"\nstore.write: {n / upsert:,.0f} rows/s; plain executemany: {n / plain:,.0f} rows/s;"
        f" ratio {plain / upsert:.2f}; identical re-write: {n / noop:,.0f} rows/s"
    )


# -- helpers the sync engine reads -------------------------------------------------------


def test_current_values_and_has_alive(store):
    store.write(commits(3))
    ids = sorted(store.ids("commits"))
    got = store.current("commits", [ids[0], "missing"], ("date", "parent_count"))
    assert got == {ids[0]: ("2024-05-01T08:00:00.000000+00:00", 0)}
    assert store.has_alive("commits", {"repository_id": REPO})
    store.tombstone("commits", {"repository_id": REPO}, set(), "2024-06-01")
    assert not store.has_alive("commits", {"repository_id": REPO})
    assert store.current("commits", ids, ("date",)) == {}


def test_tombstone_unreachable_commits_after_a_force_push(store):
    store.write(commits(5))  # a chain 0 <- 1 <- 2 <- 3 <- 4
    side = {**commit_obj(10), "parents": [{"hash": f"{2:040x}"}]}
    store.write(cloud_git.commit(side, source=SRC, repository_id=REPO))
    heads = [f"{4:040x}", f"{10:040x}"]
    assert store.tombstone_unreachable(REPO, heads, "2024-06-01") == 0
    assert store.tombstone_unreachable(REPO, [f"{10:040x}"], "2024-06-01") == 2  # 3 and 4
    assert store.ids("commits") == {rows.commit_key(REPO, f"{i:040x}") for i in (0, 1, 2, 10)}
