"""BBQL parsing: tokens, the query tree and the parser (bbql.py evaluates what this builds)."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

STRICT_FIELDS = False


ORDINALS: dict[str, tuple[str, ...]] = {
    "priority": ("trivial", "minor", "major", "critical", "blocker"),
    # Repository permissions (read < write < admin) and workspace ones (member < collaborator
    # < owner) share the field name; only ranks within one family are meaningful.
    "permission": ("none", "member", "read", "collaborator", "write", "admin", "owner"),
}


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


def _as_utc(dt: datetime) -> datetime:
    """Naive datetimes are UTC (§2.1); aware ones are converted to UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
