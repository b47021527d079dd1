"""BBQL (`q`) filtering and `sort` for the Cloud simulator: pure functions over rendered JSON.

Reference: bitbucket-cloud.md §2.1 and §2.3. A hand-written tokenizer and recursive-descent
parser turn a query into a small tree (`Comparison`, `BoolOp`); `compile_query` turns the tree
into a predicate once (cached), so filtering a list costs one closure call per item.

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
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

STRICT_FIELDS = False
"""When True, a key missing from an object on a query or sort path is a 400, not a null."""

ORDINALS: dict[str, tuple[str, ...]] = {
    "priority": ("trivial", "minor", "major", "critical", "blocker"),
    # Repository permissions (read < write < admin) and workspace ones (member < collaborator
    # < owner) share the field name; only ranks within one family are meaningful.
    "permission": ("none", "member", "read", "collaborator", "write", "admin", "owner"),
}
"""Fields whose string values compare by rank rather than alphabetically."""

OPERATORS = ("=", "!=", "~", "!~", ">", ">=", "<", "<=")
_NEGATED = {"!=": "=", "!~": "~"}
_ORDERING = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_RANKS = {field: {v: i for i, v in enumerate(values)} for field, values in ORDINALS.items()}

_FIELD_RE = re.compile(r"[A-Za-z_][\w.]*")
_SEGMENT_RE = re.compile(r"[A-Za-z_]\w*\Z")
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?", re.ASCII
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_FIELD_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}|\Z)")
_OP_CHARS = "=!~<>"
_DIGITS = "0123456789"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NATURAL_RE = re.compile(r"([0-9]+)")
_MISSING: Any = object()


class BBQLError(ValueError):
    """A malformed query or sort; the message is fit for Bitbucket's 400 error body."""


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Literal:
    """A query value: kind is string, number, null, boolean or datetime."""

    kind: str
    value: Any
    text: str = ""

    def __str__(self) -> str:
        if self.text:
            return self.text
        if self.kind == "string":
            return '"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if self.kind == "null":
            return "null"
        if self.kind == "boolean":
            return "true" if self.value else "false"
        if self.kind == "datetime":
            return self.value.isoformat()
        return repr(self.value)


@dataclass(frozen=True)
class Comparison:
    """`field op value`, with a dotted field path."""

    field: str
    op: str
    value: Literal

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value}"


@dataclass(frozen=True)
class BoolOp:
    """`AND` or `OR` over two or more operands."""

    op: str
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        parts = (f"({o})" if isinstance(o, BoolOp) else str(o) for o in self.operands)
        return f" {self.op} ".join(parts)


Node = Comparison | BoolOp


# ---------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) op string number datetime word end
    text: str
    pos: int
    value: Any = None


def _tokenize(q: str) -> list[_Token]:
    """Split a query into tokens, rejecting what can be rejected without grammar."""
    tokens: list[_Token] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(_Token(c, c, i))
            i += 1
        elif c in _OP_CHARS:
            j = i
            while j < n and q[j] in _OP_CHARS:
                j += 1
            op = q[i:j]
            if op not in OPERATORS:
                raise BBQLError(f"Unknown operator '{op}' at position {i}")
            tokens.append(_Token("op", op, i))
            i = j
        elif c == '"':
            value, j = _read_string(q, i)
            tokens.append(_Token("string", q[i:j], i, value))
            i = j
        elif c in _DIGITS or (c == "-" and i + 1 < n and q[i + 1] in _DIGITS):
            tokens.append(_read_number_or_datetime(q, i))
            i = tokens[-1].pos + len(tokens[-1].text)
        elif c.isascii() and (c.isalpha() or c == "_"):
            m = _FIELD_RE.match(q, i)
            assert m is not None
            word = m.group()
            if not all(_SEGMENT_RE.match(s) for s in word.split(".")):
                raise BBQLError(f"Invalid field name '{word}' at position {i}")
            tokens.append(_Token("word", word, i))
            i = m.end()
        else:
            raise BBQLError(f"Unexpected character '{c}' at position {i}")
    tokens.append(_Token("end", "", n))
    return tokens


def _read_string(q: str, start: int) -> tuple[str, int]:
    """Read a double-quoted string at `start`; return its value and the index after it."""
    out: list[str] = []
    i, n = start + 1, len(q)
    while i < n:
        c = q[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 >= n:
                break
            e = q[i + 1]
            if e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", q[i + 2 : i + 6]):
                out.append(chr(int(q[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(e, e))
            i += 2
            continue
        out.append(c)
        i += 1
    raise BBQLError(f"Unterminated string starting at position {start}")


def _read_number_or_datetime(q: str, i: int) -> _Token:
    """Read an unquoted datetime or number at `i`; it must end at a delimiter."""
    m = _DATETIME_RE.match(q, i) if q[i] != "-" else None
    kind = "datetime"
    if m is None or _continues(q, m.end()):
        m = _NUMBER_RE.match(q, i)
        kind = "number"
    assert m is not None
    text = m.group()
    if _continues(q, m.end()):
        end = m.end()
        while end < len(q) and not q[end].isspace() and q[end] not in "()":
            end += 1
        raise BBQLError(f"Invalid value '{q[i:end]}' at position {i}")
    if kind == "number":
        value: Any = float(text) if any(ch in text for ch in ".eE") else int(text)
    else:
        try:
            value = _as_utc(datetime.fromisoformat(text))
        except ValueError:
            raise BBQLError(f"Invalid datetime '{text}' at position {i}") from None
    return _Token(kind, text, i, value)


def _continues(q: str, end: int) -> bool:
    """Whether the character at `end` would glue onto an unquoted literal."""
    return end < len(q) and not q[end].isspace() and q[end] not in "()" + _OP_CHARS


# ---------------------------------------------------------------- parser


class _Parser:
    """Recursive descent: or := and (OR and)*; and := primary (AND primary)*."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.upper() == word

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.keyword("OR"):
            self.take()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_primary()]
        while self.keyword("AND"):
            self.take()
            operands.append(self.parse_primary())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "(":
            node = self.parse_or()
            close = self.take()
            if close.kind != ")":
                raise BBQLError(f"Missing ')' for the '(' at position {tok.pos}")
            return node
        if tok.kind == "end":
            raise BBQLError("Unexpected end of query: expected a field name or '('")
        if tok.kind == "word" and tok.text.upper() in ("AND", "OR"):
            raise BBQLError(f"Missing operand before '{tok.text}' at position {tok.pos}")
        if tok.kind != "word":
            raise BBQLError(f"Expected a field name at position {tok.pos}, got '{tok.text}'")
        _check_field(tok.text)
        op = self.take()
        if op.kind != "op":
            got = f"'{op.text}'" if op.text else "end of query"
            raise BBQLError(f"Expected an operator after '{tok.text}', got {got}")
        return Comparison(tok.text, op.text, self.parse_value(op))

    def parse_value(self, op: _Token) -> Literal:
        tok = self.take()
        if tok.kind in ("string", "number", "datetime"):
            return Literal(tok.kind, tok.value, tok.text)
        if tok.kind == "word":
            word = tok.text.lower()
            if word == "null":
                return Literal("null", None, tok.text)
            if word in ("true", "false"):
                return Literal("boolean", word == "true", tok.text)
        if tok.kind == "end":
            raise BBQLError(f"Missing value after operator '{op.text}' at position {op.pos}")
        raise BBQLError(
            f"Expected a value (quoted string, number, datetime, null, true or false) "
            f"after '{op.text}' at position {tok.pos}, got '{tok.text}'"
        )


def _check_field(field: str) -> None:
    """Reject `values.`-prefixed fields, which the reference says are wrong (§2.1)."""
    if field.startswith("values."):
        raise BBQLError(
            f"Invalid field '{field}': do not prefix fields with 'values.' "
            f"(use '{field[len('values.') :]}')"
        )


def parse(q: str) -> Node:
    """Parse a BBQL query into a tree; raise BBQLError when it is malformed."""
    tokens = _tokenize(q)
    if tokens[0].kind == "end":
        raise BBQLError("Empty query")
    parser = _Parser(tokens)
    node = parser.parse_or()
    tok = parser.peek()
    if tok.kind == ")":
        raise BBQLError(f"Unbalanced ')' at position {tok.pos}")
    if tok.kind != "end":
        raise BBQLError(f"Unexpected '{tok.text}' at position {tok.pos}")
    return node


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


def _as_utc(dt: datetime) -> datetime:
    """Naive datetimes are UTC (§2.1); aware ones are converted to UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


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
