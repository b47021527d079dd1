"""BBQL filtering and sorting in the simulator (bitbucket-cloud.md §2.1, §2.3)."""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote_plus

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from bbmirror.simulator.cloud import bbql
from bbmirror.simulator.cloud.bbql import compile_query, filter_items, natural_key, sort_items
from bbmirror.simulator.cloud.bbql_parse import BBQLError, BoolOp, Comparison, Literal, parse


def user(nickname: str) -> dict:
    return {"type": "user", "nickname": nickname, "display_name": nickname.title()}


def named(name: str) -> dict:
    return {"type": "component", "name": name, "id": abs(hash(name)) % 100}


ISSUES = [
    {
        "type": "issue",
        "id": 1,
        "title": "Unicode crash",
        "state": "new",
        "kind": "bug",
        "priority": "major",
        "assignee": None,
        "reporter": user("alice"),
        "component": named("UI"),
        "milestone": None,
        "version": named("1.0"),
        "votes": 0,
        "content": {"raw": "Crashes on emoji", "markup": "markdown"},
        "created_on": "2015-10-04T20:00:00.000000+00:00",
        "updated_on": "2015-11-11T08:00:00.000000+00:00",
    },
    {
        "type": "issue",
        "id": 2,
        "title": "Login fails",
        "state": "open",
        "kind": "bug",
        "priority": "critical",
        "assignee": user("bob"),
        "reporter": user("evzijst"),
        "component": named("API"),
        "milestone": named("M2"),
        "version": None,
        "votes": 3,
        "content": {"raw": "UNICODE passwords break login", "markup": "markdown"},
        "created_on": "2015-10-04T21:30:00.000000+00:00",
        "updated_on": "2015-11-12T00:00:00.000000+00:00",
    },
    {
        "type": "issue",
        "id": 3,
        "title": "Docs typo",
        "state": "on hold",
        "kind": "task",
        "priority": "trivial",
        "assignee": None,
        "reporter": user("carol"),
        "component": named("UI"),
        "milestone": named("M1"),
        "version": None,
        "votes": 1,
        "content": {"raw": "fix typo", "markup": "plaintext"},
        # The same instant as the official example's 2015-10-04T14:00:00-07:00.
        "created_on": "2015-10-04T14:00:00-07:00",
        "updated_on": "2015-11-11T06:59:59.999999+00:00",
    },
    {
        "type": "issue",
        "id": 4,
        "title": "Add dark mode",
        "state": "new",
        "kind": "enhancement",
        "priority": "blocker",
        "assignee": None,
        "reporter": user("evzijst"),
        "component": None,
        "milestone": None,
        "version": named("2.0"),
        "votes": 7,
        "content": {"raw": "unicode icons please", "markup": "markdown"},
        "created_on": "2016-01-01T00:00:00.000000+00:00",
        "updated_on": "2016-01-02T00:00:00.000000+00:00",
    },
    {
        "type": "issue",
        "id": 5,
        "title": "Slow search",
        "state": "resolved",
        "kind": "bug",
        "priority": "minor",
        "assignee": user("alice"),
        "reporter": user("bob"),
        "component": named("Search"),
        "milestone": named("M1"),
        "version": named("1.0"),
        "votes": 2,
        "content": {"raw": "", "markup": "markdown"},
        "created_on": "2014-05-01T09:00:00.000000+00:00",
        "updated_on": "2015-03-04T00:00:00.000000+00:00",
    },
    {
        # No assignee key at all: `assignee = null` matches a missing field too.
        "type": "issue",
        "id": 6,
        "title": "Crash on start",
        "state": "on hold",
        "kind": "bug",
        "priority": "major",
        "reporter": user("dave"),
        "component": named("UI"),
        "milestone": None,
        "version": None,
        "votes": 0,
        "content": {"raw": None, "markup": "markdown"},
        "created_on": "2015-09-30T23:00:00-02:00",
        "updated_on": "2015-12-01T00:00:00+02:00",
    },
]


def pr(id_: int, state: str, source: str, dest: str, reviewers: list[str], **extra) -> dict:
    return {
        "type": "pullrequest",
        "id": id_,
        "title": f"PR {id_}",
        "state": state,
        "author": {"uuid": "{d301aafa-d676-4ee0-88be-962be7417567}" if id_ % 2 else "{other}"},
        "source": {"repository": {"full_name": source}, "branch": {"name": f"feature/{id_}"}},
        "destination": {"repository": {"full_name": "main/repo"}, "branch": {"name": dest}},
        "reviewers": [user(r) for r in reviewers],
        "close_source_branch": id_ % 2 == 0,
        "comment_count": id_ - 100,
        **extra,
    }


PRS = [
    pr(101, "OPEN", "fork/repo", "master", ["evzijst", "bob"]),
    pr(102, "OPEN", "main/repo", "master", ["evzijst"]),
    pr(103, "OPEN", "fork2/repo", "develop", ["evzijst"]),
    pr(104, "MERGED", "fork/repo", "master", ["evzijst"]),
    pr(105, "OPEN", "fork/repo", "master", []),
    pr(106, "OPEN", "other/repo", "master", ["EVZIJST"]),
]

# Shapes from the other [S2] examples: permissions, workspaces, repos, src, filehistory, refs.
MISC = [
    {"id": 201, "permission": "admin", "repository": {"name": "geordi"}, "user": user("zed")},
    {"id": 202, "permission": "read", "repository": {"name": "picard"}, "user": user("amy")},
    {"id": 203, "permission": "owner", "workspace": {"slug": "bbworkspace1"}},
    {"id": 204, "slug": "bbworkspace1", "is_private": True, "created_on": "2012-01-01"},
    {
        "id": 205,
        "name": "stable-branch",
        "is_private": False,
        "description": "Dead BEEF here",
        "parent": {"owner": {"nickname": "bitbucket"}},
    },
    {"id": 206, "size": 2048, "attributes": ["binary", "lfs"]},
    {"id": 207, "size": 100, "attributes": ["binary"]},
    {"id": 208, "commit": {"date": "2011-05-17T12:00:00+00:00"}},
    {"id": 209, "commit": {"date": "2011-05-18T01:00:00+02:00"}},
    {"id": 210, "commit": {"date": "2011-05-18T00:00:01+00:00"}},
    {"id": 211, "changes": {"state": {"old": "new", "new": "resolved"}}},
    {"id": 212, "name": "release-2015-01"},
    {"id": 213, "name": "erik/feature"},
    {"id": 214, "nickname": "evzijst", "is_private": True, "description": "fubar and more"},
]

ISSUE_CASES = [
    # Official examples (§2.1), verbatim.
    ('(state = "open" OR state = "new") AND assignee = null', [1, 4]),
    ('reporter.nickname != "evzijst" AND priority >= "major"', [1, 6]),
    (
        '(title ~ "unicode" OR content.raw ~ "unicode") AND created_on > 2015-10-04T14:00:00-07:00',
        [2, 4],
    ),
    (
        '(state = "new" OR state = "on hold") AND assignee = null AND component = "UI" and '
        "updated_on > 2015-11-11T00:00:00-07:00",
        [1, 6],
    ),
    ('priority > "major"', [2, 4]),
    ('priority <= "trivial"', [3]),
    ("id < 1234", [1, 2, 3, 4, 5, 6]),
    ("updated_on <= 2015-03-04", [5]),
    ('state="new"', [1, 4]),
    # Keywords, precedence and parentheses.
    ('state = "new" or state = "open" and priority = "critical"', [1, 2, 4]),
    ('(state = "new" or state = "open") and priority = "critical"', [2]),
    ('((state = "new") OR (state = "resolved" AND (votes > 1 OR votes < 0)))', [1, 4, 5]),
    ('state = "new" Or State = "new"', [1, 4]),
    # Datetimes: offsets, date only, fractions, Z, naive means UTC.
    ("created_on = 2015-10-04T21:00:00Z", [3]),
    ("created_on = 2015-10-04T21:00:00", [3]),
    ("created_on >= 2015-10-04T14:00:00.000-07:00", [2, 3, 4]),
    ("created_on < 2015-10-01", [5]),  # issue 6: 2015-09-30T23:00:00-02:00 is 10-01 01:00Z
    ("created_on < 2015-10-01T03:00:00+02:00", [5]),
    ("created_on <= 2015-10-01T03:00:00+02:00", [5, 6]),
    ("updated_on > 2015-11-11T08:00", [2, 4, 6]),
    ('updated_on > "2015-11-11T08:00"', [1, 2, 4, 6]),  # quoted: a plain string comparison
    # Null and missing values.
    ("assignee = null", [1, 3, 4, 6]),
    ("assignee != null", [2, 5]),
    ("assignee.nickname = null", [1, 3, 4, 6]),
    ('assignee.nickname = "alice"', [5]),
    ("milestone = NULL", [1, 4, 6]),
    ("nosuchfield = null", [1, 2, 3, 4, 5, 6]),
    ('nosuchfield != "x"', [1, 2, 3, 4, 5, 6]),
    ('nosuchfield = "x"', []),
    ("content.raw = null", [6]),
    # Embedded objects compare by name.
    ('component = "UI"', [1, 3, 6]),
    ('component != "UI"', [2, 4, 5]),
    ('milestone = "M1" AND version = "1.0"', [5]),
    ('component ~ "ui"', [1, 3, 6]),
    ('version > "1.5"', [4]),
    # Text operators.
    ('title ~ "CRASH"', [1, 6]),
    ('title !~ "crash"', [2, 3, 4, 5]),
    ('content.raw ~ ""', [1, 2, 3, 4, 5]),
    ('title ~ "crash" AND content.raw !~ "emoji"', [6]),
    ('state = "on hold"', [3, 6]),
    ('title = "unicode crash"', []),
    # Numbers, including negative and float literals.
    ("votes = 3", [2]),
    ("votes = 3.0", [2]),
    ("votes > -1", [1, 2, 3, 4, 5, 6]),
    ("votes >= 2.5", [2, 4]),
    ("votes < -10.302", []),
    ("votes <= 1e0", [1, 3, 6]),
    # Incompatible types are false; != is the negation of =.
    ('votes = "3"', []),
    ('votes != "3"', [1, 2, 3, 4, 5, 6]),
    ("title > 5", []),
    ("votes ~ 3", []),
    ("votes = true", []),
    ("created_on > 5", []),
    ('priority > "urgent"', []),
    # Ordinal priority.
    ('priority >= "critical"', [2, 4]),
    ('priority < "major"', [3, 5]),
    ('priority != "major"', [2, 3, 4, 5]),
    # Strings with escapes.
    ('title = "Docs \\"typo\\""', []),
    ('title ~ "\\u0055nicode"', [1]),
]

PR_CASES = [
    (
        'source.repository.full_name != "main/repo" AND state = "OPEN" AND '
        'reviewers.nickname = "evzijst" AND destination.branch.name = "master"',
        [101],
    ),
    ('author.uuid="{d301aafa-d676-4ee0-88be-962be7417567}"', [101, 103, 105]),
    ('reviewers.nickname = "evzijst"', [101, 102, 103, 104]),
    ('reviewers.nickname = "bob"', [101]),
    ('reviewers.nickname != "evzijst"', [105, 106]),
    ('reviewers.nickname ~ "evz"', [101, 102, 103, 104, 106]),
    ('reviewers.nickname !~ "evz"', [105]),
    ("reviewers.nickname = null", [105]),
    ("reviewers = null", [105]),
    ("reviewers != null", [101, 102, 103, 104, 106]),
    ("close_source_branch = true", [102, 104, 106]),
    ("close_source_branch != true", [101, 103, 105]),
    ("close_source_branch = FALSE", [101, 103, 105]),
    ("close_source_branch > false", []),
    ('state = "OPEN" AND comment_count >= 3', [103, 105, 106]),
    (
        'destination.branch.name ~ "MAST" OR source.branch.name = "feature/103"',
        [101, 102, 103, 104, 105, 106],
    ),
]

MISC_CASES = [
    ('repository.name="geordi"', [201]),
    ('permission>"read"', [201, 203]),
    ('permission="owner"', [203]),
    ('workspace.slug="bbworkspace1"', [203]),
    ('slug="bbworkspace1"', [204]),
    ("is_private=true", [204, 214]),
    ("is_private != true", [201, 202, 203, 205, 206, 207, 208, 209, 210, 211, 212, 213]),
    ('name ~ "stab"', [205]),
    ('size > 1024 and attributes = "binary"', [206]),
    ('attributes = "lfs"', [206]),
    ("commit.date<=2011-05-18", [208, 209]),
    ('changes.state.new = "resolved"', [211]),
    ('name ~ "2015"', [212]),
    ('name ~ "erik/"', [213]),
    ('parent.owner.nickname = "bitbucket"', [205]),
    ('nickname = "evzijst"', [214]),
    ('description ~ "beef"', [205]),
    ('description !~ "fubar"', [201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213]),
    ("created_on < 2013-01-01T00:00:00+00:00", [204]),
]


def ids(items: list[dict]) -> list[int]:
    return [item["id"] for item in items]


@pytest.mark.parametrize(("query", "expected"), ISSUE_CASES)
def test_issue_queries(query: str, expected: list[int]) -> None:
    assert ids(filter_items(ISSUES, query)) == expected


@pytest.mark.parametrize(("query", "expected"), PR_CASES)
def test_pullrequest_queries(query: str, expected: list[int]) -> None:
    assert ids(filter_items(PRS, query)) == expected


@pytest.mark.parametrize(("query", "expected"), MISC_CASES)
def test_other_documented_queries(query: str, expected: list[int]) -> None:
    assert ids(filter_items(MISC, query)) == expected


def test_url_encoded_official_example_decodes_to_the_same_query() -> None:
    encoded = (
        "%28state+%3D+%22new%22+OR+state+%3D+%22on+hold%22%29+AND+assignee+%3D+null+AND+"
        "component+%3D+%22UI%22+and+updated_on+%3E+2015-11-11T00%3A00%3A00-07%3A00"
    )
    query = unquote_plus(encoded)
    assert ids(filter_items(ISSUES, query)) == [1, 6]
    assert str(parse(query)) == (
        '(state = "new" OR state = "on hold") AND assignee = null AND component = "UI" '
        "AND updated_on > 2015-11-11T00:00:00-07:00"
    )


def test_empty_query_keeps_everything_and_compile_is_cached() -> None:
    assert filter_items(ISSUES, None) == ISSUES
    assert filter_items(ISSUES, "  ") == ISSUES
    assert compile_query('state = "new"') is compile_query('state = "new"')


INVALID = [
    ("", "Empty query"),
    ("   ", "Empty query"),
    ('state = "new', "Unterminated string"),
    ('title = "ends with backslash\\', "Unterminated string"),
    ("state =", "Missing value"),
    ('state = "new" AND', "Unexpected end"),
    ('state = "new" OR', "Unexpected end"),
    ('AND state = "new"', "Missing operand"),
    ('state = "new" AND OR state = "open"', "Missing operand"),
    ('state "new"', "Expected an operator"),
    ("state", "Expected an operator"),
    ('= "new"', "Expected a field name"),
    ('"new" = state', "Expected a field name"),
    ('(state = "new"', "Missing ')'"),
    ('((state = "new")', "Missing ')'"),
    ('state = "new")', "Unbalanced ')'"),
    ("()", "Expected a field name"),
    ('state == "new"', "Unknown operator '=='"),
    ('state <> "new"', "Unknown operator '<>'"),
    ('state =~ "new"', "Unknown operator '=~'"),
    ('state LIKE "new"', "Expected an operator"),
    ('state = "new" "open"', "Unexpected '\"open\"'"),
    ('state = "new" garbage', "Unexpected 'garbage'"),
    ('state = "new" AND priority = "major" )', "Unbalanced ')'"),
    ("state = new", "Expected a value"),
    ("state = nil", "Expected a value"),
    ('values.state = "new"', "do not prefix fields with 'values.'"),
    ("created_on > 2015-13-45", "Invalid datetime"),
    ("created_on > 2015-10-04T14", "Invalid value"),
    ("id = 12abc", "Invalid value"),
    ("id = 1.2.3", "Invalid value"),
    ("id = --1", "Unexpected character"),
    ("state. = 1", "Invalid field name"),
    ("a..b = 1", "Invalid field name"),
    ("state = 'new'", "Unexpected character"),
    ("NOT state = 1", "Expected an operator"),
]


@pytest.mark.parametrize(("query", "message"), INVALID)
def test_invalid_queries_raise(query: str, message: str) -> None:
    with pytest.raises(BBQLError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_query(query)


def test_bbql_error_is_a_value_error() -> None:
    assert issubclass(BBQLError, ValueError)


def test_strict_fields_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bbql, "STRICT_FIELDS", True)
    predicate = compile_query("nosuchfield = null")
    with pytest.raises(BBQLError, match="Invalid field name 'nosuchfield'"):
        predicate(ISSUES[0])
    # A null object on the path is still null, not an unknown field.
    assert compile_query("assignee.nickname = null")(ISSUES[0]) is True


# ---------------------------------------------------------------- sort


def test_sort_datetimes_by_instant_not_by_text() -> None:
    assert ids(sort_items(ISSUES, "created_on")) == [5, 6, 1, 3, 2, 4]
    assert ids(sort_items(ISSUES, "-created_on")) == [4, 2, 3, 1, 6, 5]
    assert ids(sort_items(ISSUES, "updated_on")) == [5, 3, 1, 2, 6, 4]


def test_sort_numbers_ordinals_and_strings() -> None:
    assert ids(sort_items(ISSUES, "votes")) == [1, 6, 3, 5, 2, 4]  # stable among ties
    assert ids(sort_items(ISSUES, "-votes")) == [4, 2, 5, 3, 1, 6]  # stable among ties
    assert ids(sort_items(ISSUES, "priority")) == [3, 5, 1, 6, 2, 4]
    assert ids(sort_items(ISSUES, "-priority")) == [4, 2, 1, 6, 5, 3]
    assert ids(sort_items(ISSUES, "title")) == [4, 6, 3, 2, 5, 1]
    assert ids(sort_items(ISSUES, "component")) == [4, 2, 5, 1, 3, 6]  # by name, null first


def test_sort_nulls_first_ascending_and_last_descending() -> None:
    assert ids(sort_items(ISSUES, "assignee.nickname")) == [1, 3, 4, 6, 5, 2]
    assert ids(sort_items(ISSUES, "-assignee.nickname")) == [2, 5, 1, 3, 4, 6]
    assert ids(sort_items(ISSUES, "nosuchfield")) == [1, 2, 3, 4, 5, 6]


def test_sort_names_naturally() -> None:
    branches = [{"name": n} for n in ["branch10", "master", "branch2", "branch1"]]
    assert [b["name"] for b in sort_items(branches, "name")] == [
        "branch1",
        "branch2",
        "branch10",
        "master",
    ]
    tags = [{"name": n} for n in ["1.10", "1.2", "1.1", "1.2.1"]]
    assert [t["name"] for t in sort_items(tags, "name")] == ["1.1", "1.2", "1.2.1", "1.10"]
    assert [t["name"] for t in sort_items(tags, "-name")] == ["1.10", "1.2.1", "1.2", "1.1"]
    repos = [{"repository": {"name": n}} for n in ["r10", "r9"]]
    assert [r["repository"]["name"] for r in sort_items(repos, "repository.name")] == [
        "r9",
        "r10",
    ]


@pytest.mark.parametrize(
    ("text", "smaller"),
    [("branch10", "branch2"), ("1.10", "1.2"), ("v2", "v1.9"), ("a10b", "a9c"), ("2", "02")],
)
def test_natural_key(text: str, smaller: str) -> None:
    assert natural_key(smaller) < natural_key(text)


def test_sort_list_field_uses_first_element() -> None:
    assert ids(sort_items(PRS, "reviewers.nickname")) == [105, 106, 101, 102, 103, 104]


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        ("created_on,id", "Only one field can be sorted on"),
        ("-updated_on,-id", "Only one field can be sorted on"),
        ("values.id", "do not prefix"),
        ("-", "Invalid sort field"),
        ("--id", "Invalid sort field"),
        ("id desc", "Invalid sort field"),
    ],
)
def test_invalid_sorts(sort: str, message: str) -> None:
    with pytest.raises(BBQLError, match=message):
        sort_items(ISSUES, sort)


def test_no_sort_keeps_order_and_returns_a_new_list() -> None:
    result = sort_items(ISSUES, None)
    assert result == ISSUES and result is not ISSUES
    assert ids(sort_items(ISSUES, "")) == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------- property

FIELDS = [
    "id",
    "votes",
    "state",
    "title",
    "priority",
    "assignee",
    "assignee.nickname",
    "component",
    "created_on",
    "reviewers.nickname",
    "close_source_branch",
    "missing.field",
]
OPS = ["=", "!=", "~", "!~", ">", ">=", "<", "<="]
OFFSETS = [timezone(timedelta(minutes=m)) for m in (-420, 0, 60, 330)]

literals = st.one_of(
    st.builds(
        lambda s: Literal("string", s),
        st.one_of(
            st.sampled_from(["new", "on hold", "major", "UI", "evzijst", "crash", "bob", ""]),
            st.text(max_size=6),
        ),
    ),
    st.builds(lambda n: Literal("number", n), st.integers(-5, 200)),
    st.builds(lambda f: Literal("number", f), st.floats(allow_nan=False, allow_infinity=False)),
    st.just(Literal("null", None)),
    st.builds(lambda b: Literal("boolean", b), st.booleans()),
    st.builds(
        lambda d: Literal("datetime", d),
        st.datetimes(
            datetime(2010, 1, 1), datetime(2020, 1, 1), timezones=st.sampled_from(OFFSETS)
        ),
    ),
)
comparisons = st.builds(Comparison, st.sampled_from(FIELDS), st.sampled_from(OPS), literals)
trees = st.recursive(
    comparisons,
    lambda sub: st.builds(
        lambda op, items: BoolOp(op, tuple(items)),
        st.sampled_from(["AND", "OR"]),
        st.lists(sub, min_size=2, max_size=3),
    ),
    max_leaves=6,
)

ORACLE_RANKS = {"trivial": 0, "minor": 1, "major": 2, "critical": 3, "blocker": 4}
ORACLE_CMP = {
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def oracle_values(doc: dict, path: str) -> list:
    values = [doc]
    for seg in path.split("."):
        found = []
        for v in values:
            if isinstance(v, dict) and seg in v:
                x = v[seg]
                found.extend(x if isinstance(x, list) else [x])
        values = found
    return values or [None]


def oracle_holds(v: object, op: str, lit: Literal, field: str) -> bool:
    if lit.kind == "null":
        return op == "=" and v is None
    if lit.kind == "boolean":
        return op == "=" and isinstance(v, bool) and v == lit.value
    if lit.kind == "number":
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        return ok and op != "~" and ORACLE_CMP[op](v, lit.value)
    if lit.kind == "datetime":
        if not isinstance(v, str) or op == "~":
            return False
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            return False
        return ORACLE_CMP[op](dt.astimezone(UTC), lit.value)
    if isinstance(v, dict):
        v = v.get("name")
    if not isinstance(v, str):
        return False
    if op == "~":
        return lit.value.casefold() in v.casefold()
    if op != "=" and field == "priority":
        if v not in ORACLE_RANKS or lit.value not in ORACLE_RANKS:
            return False
        return ORACLE_CMP[op](ORACLE_RANKS[v], ORACLE_RANKS[lit.value])
    return ORACLE_CMP[op](v, lit.value)


def oracle(node: bbql.Node, doc: dict) -> bool:
    if isinstance(node, BoolOp):
        results = [oracle(o, doc) for o in node.operands]
        return all(results) if node.op == "AND" else any(results)
    positive = {"!=": "=", "!~": "~"}.get(node.op, node.op)
    field = node.field.split(".")[-1]
    hit = any(oracle_holds(v, positive, node.value, field) for v in oracle_values(doc, node.field))
    return hit if positive == node.op else not hit


@settings(max_examples=examples(300), deadline=None)
@given(trees)
def test_compiled_query_agrees_with_direct_evaluation(tree: bbql.Node) -> None:
    text = str(tree)
    assert str(parse(text)) == text
    predicate = compile_query(text)
    for doc in ISSUES + PRS:
        assert predicate(doc) == oracle(tree, doc), (text, doc["id"])
