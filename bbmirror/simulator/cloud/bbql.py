"""BBQL (`q`) filtering and `sort` for the Cloud simulator: pure functions over rendered JSON.

Reference: bitbucket-cloud.md §2.1 and §2.3. A hand-written tokenizer and recursive-descent
parser turn a query into a small tree (`Comparison`, `BoolOp`); `compile_query` turns the tree
into a predicate once (cached), so filtering a list costs one closure call per item. The
parser lives in ``bbql_parse.py``; this module evaluates and sorts.

Choices where the reference is silent ([INF], also in docs/simulator.md):

- A path that crosses a list expands to every element (flattened, one level per list), and a
  missing key, a null in the middle of a path or an empty list all resolve to a single null.
- `= ~ > >= < <=` hold if they hold for ANY resolved value. `!=` and `!~` are the exact
  negations of `=` and `~`: `reviewers.nickname != "x"` means "x is not a reviewer", and
  `id != "abc"` is true although `id = "abc"` (incompatible types) is false.
- Comparing incompatible types is false, never an error. Booleans support `=` only.
- `~` is a case-insensitive substring test on strings (Unicode case folding).
- Strings compare by code point, except for fields with a known order (`priority`, and
  `permission` for the permission endpoints): ordering operators compare their rank and are
  false when either side is not a known value.
- A string literal compared with an object uses the object's `name` (component, milestone…).
- Datetime literals compare against string fields holding ISO-8601 datetimes, both in UTC
  (no offset means UTC); a date-only literal means midnight UTC. Quoted strings never compare
  as datetimes.
- Unknown fields resolve to null (`STRICT_FIELDS = False`); with `STRICT_FIELDS = True` a
  dict that lacks a key on the path raises `BBQLError` when the item is evaluated.
- `values.`-prefixed fields are rejected (the reference says not to use them).
- String escapes: `\\"`, `\\\\`, JSON escapes (`\\n`, `\\t`, `\\uXXXX`…); any other `\\c`
  stands for `c`.
- `sort`: nulls first ascending (last descending), stable; values of different types order as
  null < boolean < number < ranked enum < datetime < string < object; a list field sorts by
  its first element; string fields called `name` sort naturally; ranked enums sort by rank.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from bbmirror.simulator.cloud.bbql_parse import (
    _FIELD_DATETIME_RE,
    _FIELD_RE,
    _MISSING,
    _NATURAL_RE,
    _NEGATED,
    _ORDERING,
    _RANKS,
    _SEGMENT_RE,
    STRICT_FIELDS,
    BBQLError,
    BoolOp,
    Literal,
    Node,
    _as_utc,
    _check_field,
    parse,
)

"""When True, a key missing from an object on a query or sort path is a 400, not a null."""

"""Fields whose string values compare by rank rather than alphabetically."""


# ---------------------------------------------------------------- the tree


# ---------------------------------------------------------------- tokenizer


# ---------------------------------------------------------------- parser


# ---------------------------------------------------------------- evaluation


@lru_cache(maxsize=512)
def compile_query(q: str) -> Callable[[dict], bool]:
    """Parse once and return a predicate over rendered API objects (cached by query text)."""
    return compile_node(parse(q))


def compile_node(node: Node) -> Callable[[dict], bool]:
    """Turn a parsed tree into a predicate."""
    if isinstance(node, BoolOp):
        preds = [compile_node(o) for o in node.operands]
        combined = preds[0]
        for p in preds[1:]:
            combined = _both(combined, p) if node.op == "AND" else _either(combined, p)
        return combined
    segs = tuple(node.field.split("."))
    test = _value_test(_NEGATED.get(node.op, node.op), node.value, segs[-1])
    return _comparison(segs, test, negate=node.op in _NEGATED)


def _both(a: Callable[[dict], bool], b: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda doc: a(doc) and b(doc)


def _either(a: Callable[[dict], bool], b: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda doc: a(doc) or b(doc)


def _comparison(
    segs: tuple[str, ...], test: Callable[[Any], bool], negate: bool
) -> Callable[[dict], bool]:
    """A predicate applying `test` to the value(s) at `segs`: any of them, or negated."""
    if len(segs) == 1:
        key = segs[0]

        def get(doc: dict) -> Any:
            v = doc.get(key, _MISSING)
            if v is _MISSING:
                return _missing(segs)
            if isinstance(v, list):
                return _flatten(v) or None
            return v

    else:

        def get(doc: dict) -> Any:
            return _lookup(doc, segs)

    if negate:

        def negated(doc: dict) -> bool:
            v = get(doc)
            if isinstance(v, list):
                return not any(map(test, v))
            return not test(v)

        return negated

    def positive(doc: dict) -> bool:
        v = get(doc)
        if isinstance(v, list):
            return any(map(test, v))
        return test(v)

    return positive


def filter_items(items: Iterable[dict], q: str | None) -> list[dict]:
    """The items matching `q` (all of them when `q` is empty or None)."""
    if q is None or not q.strip():
        return list(items)
    return list(filter(compile_query(q), items))


def resolve(doc: Any, segs: tuple[str, ...]) -> list[Any]:
    """Values at a dotted path; lists expand to their elements; nothing found gives [None]."""
    v = _lookup(doc, segs)
    return list(v) if isinstance(v, list) else [v]


def _lookup(doc: Any, segs: tuple[str, ...]) -> Any:
    """The value at a path, or a flat non-empty list of values once a list was crossed."""
    v = doc
    for i, seg in enumerate(segs):
        if isinstance(v, dict):
            v = v.get(seg, _MISSING)
            if v is _MISSING:
                return _missing(segs)
        elif isinstance(v, list):
            return _lookup_many(v, segs[i:], segs)
        else:
            return None
    if isinstance(v, list):
        return _flatten(v) or None
    return v


def _lookup_many(values: list[Any], rest: tuple[str, ...], segs: tuple[str, ...]) -> Any:
    """The general case of `_lookup`, once a list has been crossed."""
    current = values
    for seg in rest:
        found: list[Any] = []
        for v in current:
            if isinstance(v, dict):
                x = v.get(seg, _MISSING)
                if isinstance(x, list):
                    found.extend(_flatten(x))
                elif x is _MISSING:
                    _missing(segs)
                else:
                    found.append(x)
            elif isinstance(v, list):
                nested = _lookup_many(v, (seg,), segs)
                if nested is not None:
                    found.extend(nested)
        current = found
    return current or None


def _missing(segs: tuple[str, ...]) -> None:
    """An absent key is null, or a 400 when STRICT_FIELDS is on."""
    if STRICT_FIELDS:
        raise BBQLError(f"Invalid field name '{'.'.join(segs)}'")
    return None


def _flatten(values: list[Any]) -> list[Any]:
    """Elements of nested lists, in order."""
    for v in values:
        if isinstance(v, list):
            break
    else:
        return values
    out: list[Any] = []
    for v in values:
        if isinstance(v, list):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _value_test(op: str, lit: Literal, last: str) -> Callable[[Any], bool]:
    """A test of one resolved value against the literal, for a positive operator."""
    if lit.kind == "null":
        return (lambda v: v is None) if op == "=" else (lambda v: False)
    if lit.kind == "boolean":
        want = lit.value
        return (lambda v: v is want) if op == "=" else (lambda v: False)
    if lit.kind == "number":
        return _number_test(op, lit.value)
    if lit.kind == "datetime":
        return _datetime_test(op, lit.value)
    return _string_test(op, lit.value, _RANKS.get(last))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _number_test(op: str, want: float) -> Callable[[Any], bool]:
    if op == "=":
        return lambda v: _is_number(v) and v == want
    if op == "~":
        return lambda v: False
    cmp = _ORDERING[op]
    return lambda v: _is_number(v) and cmp(v, want)


def _datetime_test(op: str, want: datetime) -> Callable[[Any], bool]:
    if op == "~":
        return lambda v: False
    cmp = operator.eq if op == "=" else _ORDERING[op]

    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        dt = field_datetime(v)
        return dt is not None and cmp(dt, want)

    return test


def _string_test(op: str, want: str, ranks: dict[str, int] | None) -> Callable[[Any], bool]:
    if op == "=":

        def equal(v: Any) -> bool:
            if isinstance(v, str):
                return v == want
            return isinstance(v, dict) and v.get("name") == want

        return equal
    if op == "~":
        folded = want.casefold()

        def contains(v: Any) -> bool:
            text = _as_text(v)
            return text is not None and folded in text.casefold()

        return contains
    cmp = _ORDERING[op]
    if ranks is not None:
        rank = ranks.get(want)
        if rank is None:
            return lambda v: False

        def ranked(v: Any) -> bool:
            r = ranks.get(_as_text(v))  # type: ignore[arg-type]
            return r is not None and cmp(r, rank)

        return ranked

    def ordered(v: Any) -> bool:
        text = _as_text(v)
        return text is not None and cmp(text, want)

    return ordered


def _as_text(v: Any) -> str | None:
    """A string value, or an embedded object's `name` (component = "UI"); else None."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        name = v.get("name")
        return name if isinstance(name, str) else None
    return None


@lru_cache(maxsize=65536)
def field_datetime(text: str) -> datetime | None:
    """A field string parsed as an ISO-8601 datetime in UTC, or None if it is not one."""
    if not _FIELD_DATETIME_RE.match(text):
        return None
    try:
        return _as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


# ---------------------------------------------------------------- sort


def natural_key(text: str) -> tuple[tuple[Any, ...], str]:
    """Sort key putting `branch2` before `branch10` and `1.2` before `1.10` (§2.1 refs)."""
    parts = _NATURAL_RE.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text


def sort_items(items: list[dict], sort: str | None) -> list[dict]:
    """Items sorted by one field (`-` prefix: descending), stably; a new list."""
    if sort is None or not sort.strip():
        return list(items)
    key = sort.strip()
    if "," in key:
        raise BBQLError("Only one field can be sorted on")
    descending = key.startswith("-")
    if descending:
        key = key[1:]
    if (
        not key
        or not _FIELD_RE.fullmatch(key)
        or not all(_SEGMENT_RE.match(s) for s in key.split("."))
    ):
        raise BBQLError(f"Invalid sort field '{sort}'")
    _check_field(key)
    segs = tuple(key.split("."))
    last = segs[-1]
    ranks = _RANKS.get(last)
    natural = last == "name"

    def sort_key(item: dict) -> tuple[int, Any]:
        value = resolve(item, segs)[0]
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            value = value["name"]
        if value is None:
            return (0, 0)
        if isinstance(value, bool):
            return (1, value)
        if _is_number(value):
            return (2, value)
        if isinstance(value, str):
            if ranks is not None and value in ranks:
                return (3, ranks[value])
            if natural:
                return (5, natural_key(value))
            dt = field_datetime(value)
            return (4, dt) if dt is not None else (5, value)
        return (6, json.dumps(value, sort_keys=True, default=str))

    return sorted(items, key=sort_key, reverse=descending)
