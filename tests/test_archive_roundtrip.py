"""Round trips of archives shaped like real exports: export(import(A)) == A (issue 12 item 6)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from archive_shapes import (
    ARCHIVES,
    ISSUE_TABLES,
    META,
    canonical,
    gdc_like,
    members,
    no_meta,
    quest_like,
)

from bbmirror.archive import export_archive, import_archive
from bbmirror.simulator.cloud.export import export_zip
from bbmirror.simulator.cloud.generate import generate

REPO = "acme/widget"


def simulated(**switches: object) -> bytes:
    """A generated world's export under ``REPO``, with the simulator's field-like switches."""
    world = generate(7, "tiny")
    repo = max(world.repositories.values(), key=lambda r: len(r.issues))
    repo.workspace, repo.slug = REPO.split("/")
    return export_zip(world, repo, **switches)  # type: ignore[arg-type]


ARCHIVES = {
    **ARCHIVES,
    "sim-2013": lambda: simulated(fmt="1.0", none_value="None", missing_files=0.5),
    "sim-2020": lambda: simulated(both=True, missing_files=0.2),
}
TABLES = (*ISSUE_TABLES, "users", "repositories", "sync_state")


def primary(files: dict[str, bytes]) -> str:
    """The JSON a round trip must reproduce: 2.0 when the archive has it."""
    return "db-2.0.json" if "db-2.0.json" in files else "db-1.0.json"


def round_trip(tmp_path: Path, data: bytes, name: str = "a") -> tuple[dict, dict]:
    """Import ``data`` into a new mirror and export it: (original members, exported members)."""
    source = tmp_path / f"{name}.zip"
    source.write_bytes(data)
    import_archive(tmp_path / f"{name}.db", source, REPO)
    out = tmp_path / f"{name}-out.zip"
    export_archive(tmp_path / f"{name}.db", REPO, out)
    return members(data), members(out.read_bytes())


def doc(files: dict[str, bytes], name: str | None = None) -> dict:
    return json.loads(files[name or primary(files)])


def by_slot(logs: list[dict]) -> dict[tuple, dict]:
    """Logs keyed by (comment, field, ordinal): logs have no id (§4.4)."""
    seen: dict[tuple, int] = {}
    out = {}
    for log in logs:
        key = (log["comment"], log["field"])
        seen[key] = seen.get(key, -1) + 1
        out[(*key, seen[key])] = log
    return out


def table_rows(db: Path) -> dict[str, list]:
    conn = sqlite3.connect(db)
    out = {}
    for table in TABLES:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        cols = [c for c in cols if c not in ("synced_at", "updated_at")]
        order = "id" if "id" in cols else ", ".join(cols[:3])
        sql = f"SELECT {', '.join(cols)} FROM [{table}] ORDER BY {order}"
        out[table] = conn.execute(sql).fetchall()
    conn.close()
    return out


# --- one test per loss found on real archives ------------------------------------------------


def test_logs_keep_their_own_time(tmp_path: Path) -> None:
    original, exported = round_trip(tmp_path, quest_like())
    before = {k: v["created_on"] for k, v in by_slot(doc(original)["logs"]).items()}
    after = {k: v["created_on"] for k, v in by_slot(doc(exported)["logs"]).items()}
    assert after == before
    carriers = {c["id"]: c["created_on"] for c in doc(original)["comments"]}
    assert any(t != carriers[k[0]] for k, t in before.items())  # the archive's logs differ


def test_comments_carrying_logs_keep_updated_on(tmp_path: Path) -> None:
    original, exported = round_trip(tmp_path, quest_like())
    before = {c["id"]: c["updated_on"] for c in doc(original)["comments"]}
    after = {c["id"]: c["updated_on"] for c in doc(exported)["comments"]}
    assert after == before
    assert before[36622702] is not None  # an edited carrier


def test_none_log_values_stay_none(tmp_path: Path) -> None:
    original, exported = round_trip(tmp_path, gdc_like())

    def values(files: dict) -> set[tuple]:
        logs = by_slot(doc(files)["logs"]).items()
        return {(k, v["changed_from"], v["changed_to"]) for k, v in logs}

    assert values(exported) == values(original)
    assert any("None" in v[1:] for v in values(original))


def test_attachment_records_without_bytes_are_exported(tmp_path: Path) -> None:
    original, exported = round_trip(tmp_path, quest_like())
    before = canonical({"a": doc(original)["attachments"]})
    assert canonical({"a": doc(exported)["attachments"]}) == before
    paths = [a["path"] for a in doc(exported)["attachments"]]
    missing = [p for p in paths if p not in original]
    assert len(missing) == 1 and missing[0] not in exported  # the record, without a file
    assert all(exported[p] == original[p] for p in paths if p not in missing)
    summary = export_archive(tmp_path / "a.db", REPO, tmp_path / "again.zip")
    assert summary.attachments == len(paths) and summary.without_bytes == 1
    assert "1 attachment files not in the mirror" in summary.line()


def test_10_users_round_trip_as_usernames(tmp_path: Path) -> None:
    original, exported = round_trip(tmp_path, gdc_like())
    assert "db-1.0.json" in exported
    assert doc(exported, "db-1.0.json")["issues"] and canonical(
        doc(exported, "db-1.0.json")
    ) == canonical(doc(original, "db-1.0.json"))
    (tmp_path / "b.zip").write_bytes((tmp_path / "a-out.zip").read_bytes())
    import_archive(tmp_path / "b.db", tmp_path / "b.zip", REPO)
    count = "SELECT count(*) FROM users"
    a, b = (sqlite3.connect(tmp_path / f"{n}.db").execute(count).fetchone()[0] for n in "ab")
    assert a == b == 3


@pytest.mark.parametrize("lose_first", [False, True], ids=["both-files", "first-file-missing"])
def test_same_named_attachments_keep_their_bytes(tmp_path: Path, lose_first: bool) -> None:
    round_trip(tmp_path, quest_like(lose_first_twin=lose_first))
    (tmp_path / "b.zip").write_bytes((tmp_path / "a-out.zip").read_bytes())
    import_archive(tmp_path / "b.db", tmp_path / "b.zip", REPO)
    sql = "SELECT id, path, content FROM issue_attachments WHERE name = 'trace.log' ORDER BY id"
    a, b = (sqlite3.connect(tmp_path / f"{n}.db").execute(sql).fetchall() for n in "ab")
    assert len(a) == 2 and a[0][2] != a[1][2]
    assert b == a


def test_archive_without_meta_exports_bitbucket_defaults(tmp_path: Path) -> None:
    original, exported = round_trip(tmp_path, no_meta())
    assert "meta" not in doc(original) and doc(exported)["meta"] == META
    kinds = {i["id"]: i["kind"] for i in doc(original)["issues"]}
    assert {i["id"]: i["kind"] for i in doc(exported)["issues"]} == kinds


# --- the whole target ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_export_of_import_equals_the_archive(tmp_path: Path, name: str) -> None:
    original, exported = round_trip(tmp_path, ARCHIVES[name]())
    expected = doc(original)
    expected.setdefault("meta", META)  # the one documented exception: defaults filled in
    assert canonical(doc(exported, primary(original))) == canonical(expected)
    files = {a["path"] for a in expected["attachments"]}
    assert {n for n in exported if n.startswith("attachments/")} == files & set(original)
    assert all(exported[p] == original[p] for p in files & set(original))


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_import_of_export_equals_import_row_for_row(tmp_path: Path, name: str) -> None:
    round_trip(tmp_path, ARCHIVES[name]())
    (tmp_path / "b.zip").write_bytes((tmp_path / "a-out.zip").read_bytes())
    import_archive(tmp_path / "b.db", tmp_path / "b.zip", REPO)
    assert table_rows(tmp_path / "b.db") == table_rows(tmp_path / "a.db")
