"""Match an archive's users to mirrored ones, so an import never duplicates a person.

Matched by uuid, then account_id, then username/nickname (1.0 archives); otherwise a new row
keyed ``account_id:{id}`` (as rows.py does), ``username:{name}`` or ``display_name:{name}``.
Existing user rows are never modified.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from bbmirror import rows
from bbmirror.archive import shapes
from bbmirror.archive.model import UserRef


def match_users(
    conn: sqlite3.Connection, refs: Iterable[UserRef], source: str
) -> tuple[dict[str, str | None], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """(user id by ``UserRef.key``, each user's JSON identity by id, new user rows)."""
    by: dict[str, dict[str, str]] = {"uuid": {}, "account_id": {}, "name": {}}
    docs: dict[str, dict[str, Any]] = {}
    sql = (
        "SELECT id, uuid, account_id, username, nickname, display_name FROM users"
        " ORDER BY deleted_at IS NULL"  # live rows come last and win
    )
    for uid, uuid, account_id, username, nickname, name in conn.execute(sql):
        found = {
            "display_name": name,
            "account_id": account_id,
            "nickname": nickname,
            "username": username,
            "uuid": uuid,
        }
        docs[uid] = {k: v for k, v in found.items() if v}
        for kind, value in (("uuid", uuid), ("account_id", account_id)):
            if value:
                by[kind][value] = uid
        for value in (nickname, username):
            if value:
                by["name"][value] = uid
    ids: dict[str, str | None] = {}
    new: list[dict[str, Any]] = []
    for ref in refs:
        uid = (
            by["uuid"].get(ref.uuid or "")
            or by["account_id"].get(ref.account_id or "")
            or (by["name"].get(ref.username) if ref.username else None)
        )
        if uid is None:
            uid = _new_user_key(ref)
            new.append(
                {
                    "id": uid,
                    "source": source,
                    "uuid": ref.uuid,
                    "account_id": ref.account_id,
                    "username": ref.username,
                    "display_name": ref.display_name,
                    "kind": "user",
                    "json": rows.dumps(shapes.user(ref)),
                }
            )
            if ref.username:
                by["name"].setdefault(ref.username, uid)
        ids[ref.key] = uid
        docs.setdefault(uid, shapes.user(ref) or {})
    return ids, docs, new


def _new_user_key(ref: UserRef) -> str:
    if ref.uuid and ref.uuid.startswith("{"):
        return ref.uuid
    if ref.account_id:
        return f"account_id:{ref.account_id}"
    if ref.username:
        return f"username:{ref.username}"
    return f"display_name:{ref.display_name}"
