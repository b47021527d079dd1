"""Rows SQLite can store, checked before they reach a transaction (issue 11.4).

The row functions read what the API sent and trust its types; a hostile or broken server can
still hand them a title that is an object, an integer beyond 64 bits or text with a lone
surrogate. SQLite would refuse such a value only at write time, inside the page's transaction,
and take the whole run down. Checked here, the one record is quarantined instead.
"""

from __future__ import annotations

import json
import reprlib
from typing import Any

from bbmirror.rows import RowError, RowSet

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_SHORT = reprlib.Repr()  # Python 3.11 takes no keywords here
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 3, 80, 80, 5, 5


def check(rowset: RowSet) -> RowSet:
    """Return ``rowset`` unchanged, or raise RowError naming the first value SQLite can't hold."""
    for table, rows in rowset.items():
        for row in rows:
            for column, value in row.items():
                problem = _problem(value)
                if problem:
                    raise RowError(f"{table}.{column} {problem}")
    return rowset


def _problem(value: Any) -> str | None:
    if value is None or isinstance(value, float | bytes | bool):
        return None
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return None
        return f"is an integer beyond 64 bits: {short(value)}"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"is text with a lone surrogate: {short(value)}"
        return None
    return f"is a JSON {_kind(value)} where a value belongs: {short(value)}"


def _kind(value: Any) -> str:
    return {dict: "object", list: "array"}.get(type(value), type(value).__name__)


def short(value: Any) -> str:
    """A bounded, ASCII-safe preview of any value (deeply nested ones included)."""
    return _SHORT.repr(value).encode("ascii", "backslashreplace").decode("ascii")


def payload_text(payload: object) -> str:
    """JSON of a quarantined payload; a preview when it cannot be serialised (too deep...)."""
    if isinstance(payload, str):
        return safe_text(payload)
    try:
        return json.dumps(payload, default=str)  # ensure_ascii: lone surrogates become escapes
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        preview = {"unserialisable": type(exc).__name__, "preview": short(payload)}
        return json.dumps(preview)


def safe_text(text: str) -> str:
    """Text SQLite can store: lone surrogates become ``\\udXXX`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
