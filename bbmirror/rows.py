"""What both flavours' row transforms share: the row types, time parsing, the key scheme, users.

Rows carry every column of their table except ``deleted_at``/``synced_at`` (the store sets
those). Keys (stable, from immutable ids only; see schema.py): users/workspaces/projects/
repositories use the braced uuid; PRs ``{repository_id}/pr/{n}``; issues
``{repository_id}/issue/{n}``; comments ``{source}/comment/{id}``; and so on, via the ``*_key``
helpers below. The per-flavour transforms live in ``bbmirror.flavours.cloud.rows*`` and
``bbmirror.flavours.server.rows*``.

Choices where the reference is silent:

- A user reference without a usable uuid (sanitised ``"uuid": "{}"``) is keyed
  ``account_id:{account_id}``; with neither, the reference is dropped (the FK column is NULL).
- Unparseable timestamps raise ``RowError``, like missing required keys: the record is
  quarantined, never stored with a wrong time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from bbmirror.compact import compact

RowSet = dict[str, list[dict]]
Row = dict[str, Any]

_FRACTION = re.compile(r"(\.\d{6})\d+")


class RowError(ValueError):
    """An API object that cannot become rows (a required field is missing or malformed)."""


def to_utc(value: str | int | float | datetime | None) -> str | None:
    """Normalise any Bitbucket timestamp to fixed-width ISO-8601 UTC with microseconds.

    Accepts Cloud ISO strings (any offset, ``Z``, with or without a fraction), Server epoch
    milliseconds (int), the 1.0 API's ``"YYYY-MM-DD HH:MM:SS"`` (UTC assumed, as for any naive
    value) and datetimes. Text order of the output equals time order.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):
        raise RowError(f"not a timestamp: {value!r}")
    elif isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise RowError(f"not a timestamp: {value!r}") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = _FRACTION.sub(r"\1", text)  # nanoseconds -> microseconds
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise RowError(f"not a timestamp: {value!r}") from None
    else:
        raise RowError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def combine(*rowsets: RowSet) -> RowSet:
    """Concatenate rowsets (e.g. a page of objects) into one, table by table."""
    out: RowSet = {}
    for rs in rowsets:
        for table, rows in rs.items():
            out.setdefault(table, []).extend(rows)
    return out


# -- keys ------------------------------------------------------------------------------------


def pullrequest_key(repository_id: str, number: int | str) -> str:
    return f"{repository_id}/pr/{number}"


def issue_key(repository_id: str, number: int | str) -> str:
    return f"{repository_id}/issue/{number}"


def comment_key(source: str, comment_id: int | str) -> str:
    return f"{source}/comment/{comment_id}"


def commit_key(repository_id: str, hash_: str) -> str:
    return f"{repository_id}/{hash_}"


def status_key(repository_id: str, hash_: str, key: str) -> str:
    """A build status is its commit plus its ``key`` (re-posting a key overwrites it, §3.17)."""
    return f"{commit_key(repository_id, hash_)}/status/{key}"


def add_parents(
    rs: RowSet,
    commit_id: str,
    parents: list[tuple[str, str]],
    *,
    source: str,
    repository_id: str,
    infix: str,
) -> None:
    """The ``commit_parents`` rows both flavours build from (hash, JSON) pairs, in order. Row
    keys are ``commit_id + infix + position``; the infix differs by flavour (Cloud
    ``/parent/``, Data Center ``/``): unifying them needs a rekey migration."""
    for position, (hash_, json_text) in enumerate(parents):
        row = {
            "id": f"{commit_id}{infix}{position}",
            "source": source,
            "commit_id": commit_id,
            "repository_id": repository_id,
            "parent_hash": hash_,
            "parent_id": commit_key(repository_id, hash_),
            "position": position,
            "json": json_text,
        }
        add(rs, "commit_parents", row)


def status_row(obj: dict, key: str, source: str, repository_id: str, commit_hash: str) -> Row:
    """The ``commit_statuses`` columns both flavours read alike, keyed by commit and ``key``;
    each adds ``refname``, ``created_on``, ``updated_on`` and ``json`` its own way."""
    return {
        "id": status_key(repository_id, commit_hash, key),
        "source": source,
        "commit_id": commit_key(repository_id, commit_hash),
        "repository_id": repository_id,
        "commit_hash": commit_hash,
        "key": key,
        "state": obj.get("state"),
        "name": obj.get("name"),
        "description": obj.get("description"),
        "url": obj.get("url"),
    }


def ref_row(kind: str, name: str, target: str | None, source: str, repository_id: str) -> Row:
    """The columns a branch or tag row (``kind``) has in both flavours: name → target commit."""
    return {
        "id": named_key(repository_id, kind, name),
        "source": source,
        "repository_id": repository_id,
        "name": name,
        "target_hash": target,
        "target_id": commit_key(repository_id, target) if target else None,
    }


def named_key(repository_id: str, kind: str, api_id: int | str) -> str:
    """Key of a thing a repository names: a milestone, version or component by its API id, a
    branch, tag or label by its name (``kind`` is the singular noun)."""
    return f"{repository_id}/{kind}/{api_id}"


def user_key(obj: Any) -> str | None:
    """The stable key of an embedded user, or None if it carries no usable identity."""
    if not isinstance(obj, dict):
        return None
    uuid = obj.get("uuid")
    if isinstance(uuid, str) and len(uuid) > 2:
        return uuid
    account_id = obj.get("account_id")
    if isinstance(account_id, str) and account_id:
        return f"account_id:{account_id}"
    return None


# -- small tolerant readers ---------------------------------------------------------------


def dumps(obj: Any) -> str:
    """Compact UTF-8 JSON, as the API sent it (orjson: the write path's hottest call)."""
    return orjson.dumps(obj).decode()


def json(obj: Any) -> str:
    """The ``json`` column: the object minus what ``compact.rebuild`` derives back."""
    return dumps(compact(obj))


def get(obj: Any, *path: str) -> Any:
    """Nested lookup that yields None for any missing step or non-object value."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def need(obj: Any, key: str, what: str) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None or value == "":
        raise RowError(f"{what} has no '{key}'")
    return value


def as_object(obj: Any, what: str) -> dict:
    if not isinstance(obj, dict):
        raise RowError(f"{what} is not a JSON object")
    return obj


def uuid(obj: Any) -> str | None:
    value = get(obj, "uuid")
    return value if isinstance(value, str) and len(value) > 2 else None


def need_uuid(obj: Any, what: str) -> str:
    """The object's ``uuid``, which keys its row: without one it is a row error."""
    value = uuid(obj)
    if value is None:
        raise RowError(f"{what} has no 'uuid'")
    return value


def text(value: Any) -> str | None:
    """Raw text of a rendered-content object (``{raw, markup, html}``) or a plain string."""
    if isinstance(value, dict):
        return value.get("raw")
    return value if isinstance(value, str) else None


def html(value: Any) -> str | None:
    return value.get("html") if isinstance(value, dict) else None


def flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def integer(value: Any, what: str = "value") -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RowError(f"{what} is not an integer: {value!r}") from None


def time(obj: Any, key: str, what: str) -> str | None:
    try:
        return to_utc(get(obj, key))
    except RowError as exc:
        raise RowError(f"{what} '{key}': {exc}") from None


def add(rs: RowSet, table: str, row: Row) -> RowSet:
    """Add a row to a rowset; the rowset, for a builder's last line."""
    rs.setdefault(table, []).append(row)
    return rs


def ref_user(rs: RowSet, obj: Any, source: str) -> str | None:
    """Add a row for an embedded user reference; return its key (None if unusable)."""
    key = user_key(obj)
    if key is None:
        return None
    row = _user_row(obj, key, source)
    for seen in rs.setdefault("users", []):
        if seen["id"] == key:  # same user twice in one object: keep the union
            for col, value in row.items():
                if seen.get(col) is None:
                    seen[col] = value
            return key
    rs["users"].append(row)
    return key


def _user_row(obj: dict, key: str, source: str) -> Row:
    return {
        "id": key,
        "source": source,
        "uuid": uuid(obj),
        "account_id": obj.get("account_id") or None,
        "username": obj.get("username") or None,
        "nickname": obj.get("nickname") or None,
        "display_name": obj.get("display_name") or None,
        "email": obj.get("email") or obj.get("emailAddress") or None,
        "kind": obj.get("type") or None,
        "account_status": obj.get("account_status") or None,
        "created_on": time(obj, "created_on", "user"),
        "json": dumps(obj),  # not compacted: json_patch merges it, a links list would replace
    }


# -- users -------------------------------------------------------------------------------


def user(obj: dict, *, source: str) -> RowSet:
    """A user/team/account (full or condensed). Embedded references go through this too."""
    obj = as_object(obj, "user")
    if user_key(obj) is None:
        raise RowError("user has no 'uuid' (nor 'account_id')")
    rs: RowSet = {}
    ref_user(rs, obj, source)
    return rs


def ids_of(rowset: RowSet, table: str) -> set[str]:
    """The ids a rowset holds for one table (the keep-set for a reconciliation)."""
    return {row["id"] for row in rowset.get(table, ())}
