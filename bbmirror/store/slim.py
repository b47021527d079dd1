"""Stored JSON without the values its row's columns already hold; views give the object back.

``bbmirror.compact`` drops what follows from ids (links) and copies inside one object. What is
left still repeats the row's own columns: a comment's ``content.raw`` is ``body``, a commit's
``message`` is ``message``, a PR's ``summary.html`` is ``description_html``. ``Store.write``
runs ``slim`` on every row: a JSON value at a path of ``COPIES[table]`` that equals the row's
column (same JSON type as the column's SQL type, never NULL) is dropped, and the object gets
``"_c": mask``, bit ``i`` set for entry ``i`` of ``COPIES[table]`` (append only, never
reorder). Nothing else changes, so ``rebuild_row`` (Python) and the ``<table>_json`` views
(SQL, for ``json_extract`` in Datasette) put back exactly what was dropped:

    select json_extract(json, '$.content.raw') from comments_json where id = ...

A pull request activity entry's ``comment`` (the whole comment, as the comments endpoint gives
it) is kept once, in ``comments``: when the activity's comment equals the stored comment row,
the entry keeps ``{"id": n}`` and bit ``REF``; its view and ``rebuild_row`` take the comment
from the ``comments`` row (so an activity entry shows a comment as it was last read, as
Bitbucket's activity feed does); an entry whose comment is not stored yet, or differs, keeps
its own. A ``commit_parents`` row whose object is item ``position`` of its commit's
``parents`` (written just before it, in the same rowset) stores only ``{"_c": REF}``. Both
are checked on the compacted forms (same bases, same values), so nothing is rebuilt to write.
Rows written before this keep their JSON; both read the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from bbmirror.compact import DUPLICATES, rebuild
from bbmirror.store.slim_copies import COPIES

_MISSING = object()
REF = 1 << 40  # the object, or its ``key``, is (part of) another row's object
_WHOLE_REF = f'{{"_c":{REF}}}'
_COMMENT_PR = DUPLICATES.index(("comment.pullrequest", "pull_request"))


@dataclass(frozen=True)
class Ref:
    """Where a row's object (``key`` None) or its ``key`` lives in another row: ``target``'s
    row whose id is in ``column``; the object itself, or item ``position`` of its ``array``."""

    key: str | None
    target: str
    column: str
    array: str | None = None
    position: str | None = None


# Commits never change, so a parent row is safely item ``position`` of its commit's parents.
REFS: dict[str, Ref] = {
    "pullrequest_activity": Ref("comment", "comments", "comment_id"),
    "commit_parents": Ref(None, "commits", "commit_id", "parents", "position"),
}


def _plans() -> dict[str, tuple[tuple[int, tuple[str, ...], str, type], ...]]:
    """Per table: (bit, path keys, column, the Python type the column holds), computed once."""
    from bbmirror.store.tables import TABLES

    out = {}
    for name, copies in COPIES.items():
        types = {c.name: c.type for c in TABLES[name].all_columns}
        out[name] = tuple(
            (1 << bit, tuple(path.split(".")), col, int if types[col] == "INTEGER" else str)
            for bit, (path, col) in enumerate(copies)
        )
    return out


_PLANS = _plans()


def _split(path: str) -> list[str]:
    return path.split(".")


def slim_object(table: str, obj: Any, row: dict) -> Any:
    """``obj`` (parsed compacted JSON, changed in place) without its copies of ``row``'s values."""
    plan = _PLANS.get(table)
    if not plan or not isinstance(obj, dict) or "_c" in obj:
        return obj
    mask = 0
    for bit, keys, column, kind in plan:
        want = row.get(column)
        if type(want) is not kind:  # NULL, or not what the column holds
            continue
        node = obj
        for key in keys[:-1]:
            node = node.get(key)
            if type(node) is not dict:
                break
        else:
            value = node.get(keys[-1], _MISSING)
            if type(value) is kind and value == want:
                del node[keys[-1]]
                mask |= bit
    if mask:
        obj["_c"] = mask
    return obj


def _put(node: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


def restore_object(table: str, obj: Any, row: dict, referenced: Any = None) -> Any:
    """The compacted object as it was before ``slim``; ``referenced`` is the REF target's."""
    if not isinstance(obj, dict) or "_c" not in obj:
        return obj
    mask = obj.pop("_c")
    if mask & REF and REFS[table].key is None:
        return referenced
    for bit, (path, column) in enumerate(COPIES.get(table, ())):
        if mask & (1 << bit):
            _put(obj, _split(path), row[column])
    if mask & REF:
        obj[REFS[table].key] = referenced
    return obj


def slim(conn: Any, table: str, rows: list[dict]) -> list[dict]:
    """The rows ``Store.write`` stores: their JSON without copies of columns or other rows."""
    if table not in _PLANS:
        return rows
    ref = REFS.get(table)
    stored = _referenced(conn, ref, rows) if ref else {}
    out = []
    for row in rows:
        text = row.get("json")
        if not isinstance(text, str) or '"_c"' in text:
            out.append(row)
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            out.append(row)
            continue
        if not isinstance(obj, dict):
            out.append(row)
            continue
        target = stored.get(row.get(ref.column)) if ref else None
        whole = target is not None and ref.key is None
        if whole and _is_part(obj, target, row.get(ref.position), ref.array):
            out.append({**row, "json": _WHOLE_REF})
            continue
        mask = 0
        if target is not None and ref.key and _is_embedded(obj, ref.key, target):
            obj[ref.key] = {"id": obj[ref.key]["id"]}
            mask = REF
        obj = slim_object(table, obj, row)
        if mask:
            obj["_c"] = obj.get("_c", 0) | mask
        out.append({**row, "json": orjson.dumps(obj).decode()} if "_c" in obj else row)
    return out


def relink(conn: Any, table: str, rows: list[dict]) -> None:
    """After ``rows`` of ``table`` are written: rows that embed a copy of one of them, written
    before it was stored (or while it differed), now refer to it, as if written after it."""
    refs = [(n, r) for n, r in REFS.items() if r.target == table and r.key is not None]
    if not refs:
        return
    ids = orjson.dumps([r["id"] for r in rows]).decode()
    for name, ref in refs:
        found = conn.execute(
            f"SELECT * FROM [{name}] WHERE [{ref.column}] IN (SELECT value FROM json_each(?))"
            f" AND NOT coalesce(json_extract([json], '$._c'), 0) & {REF}",
            (ids,),
        )
        names = [d[0] for d in found.description]
        for values in found.fetchall():
            row = dict(zip(names, values, strict=True))
            whole = restore_object(name, orjson.loads(row["json"]), row)
            (again,) = slim(conn, name, [{**row, "json": orjson.dumps(whole).decode()}])
            if again["json"] != row["json"]:
                conn.execute(
                    f"UPDATE [{name}] SET [json] = ? WHERE [id] = ?", (again["json"], row["id"])
                )


def _part(ref: Ref, whole: Any, row: dict) -> Any:
    """The part of the referenced row's object that a whole-object reference stands for."""
    items = whole.get(ref.array) if isinstance(whole, dict) else None
    at = row.get(ref.position)
    if not isinstance(items, list) or not isinstance(at, int) or not 0 <= at < len(items):
        return None
    return items[at]


def _referenced(conn: Any, ref: Ref, rows: list[dict]) -> dict[str, dict]:
    """The stored objects (compacted, columns restored) that ``rows`` point at, by id."""
    ids = sorted(
        {r[ref.column] for r in rows if r.get(ref.column) and '"_c"' not in r.get("json", "")}
    )
    if not ids:
        return {}
    found = conn.execute(
        f"SELECT * FROM [{ref.target}] WHERE [id] IN (SELECT value FROM json_each(?))",
        (orjson.dumps(ids).decode(),),
    )
    names = [d[0] for d in found.description]
    out = {}
    for values in found:
        row = dict(zip(names, values, strict=True))
        obj = orjson.loads(row["json"])
        if isinstance(obj, dict) and not obj.get("_c", 0) & REF:
            out[row["id"]] = restore_object(ref.target, obj, row)
    return out


def _is_part(obj: dict, commit: dict, at: Any, array: str | None) -> bool:
    """Whether ``obj`` rebuilds exactly as item ``at`` of the commit's ``array`` does: the same
    compacted item on the same bases, and nothing in the commit that changes its repository."""
    items = commit.get(array or "")
    if not isinstance(items, list) or type(at) is not int or not 0 <= at < len(items):
        return False
    if "_links" not in commit:  # neither compacted: both are as sent
        return obj == items[at]
    links = commit["_links"]
    repo = commit.get("repository")
    if isinstance(repo, dict) and repo.get("full_name", links.get("repo")) != links.get("repo"):
        return False
    return obj == {**items[at], "_links": links}


def _is_embedded(obj: dict, key: str, comment: dict) -> bool:
    """Whether ``obj[key]`` rebuilds exactly as the stored comment does: the same compacted
    object on the same bases, its ``pullrequest`` dropped as a copy of ``obj``'s."""
    part = obj.get(key)
    if not isinstance(part, dict) or "id" not in part:
        return False
    if obj.get("_links", {}) != comment.get("_links", {}):  # none: as sent, rebuilt as is
        return False
    own = {k: v for k, v in comment.items() if k not in ("_links", "pullrequest")}
    dropped = _COMMENT_PR in (obj.get("_dup") or ())
    if dropped != ("pullrequest" in comment):
        return False
    if dropped and comment["pullrequest"] != obj.get("pull_request"):
        return False
    return part == own


def rebuild_row(conn: Any, table: str, row: dict) -> Any:
    """The object Bitbucket sent for a stored row (a dict of its columns), in full."""
    obj = orjson.loads(row["json"])
    referenced = None
    if isinstance(obj, dict) and obj.get("_c", 0) & REF:
        ref = REFS[table]
        found = conn.execute(f"SELECT * FROM [{ref.target}] WHERE [id] = ?", (row[ref.column],))
        names = [d[0] for d in found.description]
        referenced = rebuild_row(conn, ref.target, dict(zip(names, found.fetchone(), strict=True)))
        if ref.key is None:
            referenced = _part(ref, referenced, row)
    return rebuild(restore_object(table, obj, row, referenced))


# -- the views -----------------------------------------------------------------------------


def view_sql(table: str, columns: Iterable[str]) -> str:
    """``SELECT`` giving every column of ``table`` with ``json`` restored (before ``rebuild``)."""
    cols = [c for c in columns if c != "json"]
    copies = COPIES.get(table, ())
    mask = "coalesce(json_extract(t.[json], '$._c'), 0)"
    pairs = [
        f"CASE WHEN {mask} & {1 << bit} THEN '$.{path}' ELSE '$._c' END, t.[{column}]"
        for bit, (path, column) in enumerate(copies)
    ]
    joins = ""
    ref = REFS.get(table)
    if ref and ref.key:
        pairs.append(
            f"CASE WHEN {mask} & {REF} THEN '$.{ref.key}' ELSE '$._c' END,"
            f" json_remove(r.[json], '$._links')"
        )
    if ref:
        joins = f" LEFT JOIN [{ref.target}_json] r ON r.[id] = t.[{ref.column}]"
    body = "t.[json]"
    if pairs:
        body = f"json_remove(json_set(t.[json], {', '.join(pairs)}), '$._c')"
    if ref and ref.key is None:
        part = f"json_extract(r.[json], '$.{ref.array}[' || t.[{ref.position}] || ']')"
        links = "coalesce(json_extract(r.[json], '$._links'), json('{}'))"
        whole = f"json_set({part}, '$._links', {links})"
        body = f"CASE WHEN {mask} & {REF} THEN {whole} ELSE {body} END"
    picked = ", ".join(f"t.[{c}]" for c in cols)
    return f"SELECT {picked}, {body} AS [json] FROM [{table}] t{joins}"
