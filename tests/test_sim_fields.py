"""Partial responses (`fields=`) in the simulator (bitbucket-cloud.md §2.2)."""

from __future__ import annotations

import copy
from urllib.parse import parse_qs

import pytest

from bbmirror.simulator.cloud import fields
from bbmirror.simulator.cloud.fields import apply_fields, wanted_additions, wants_field

NEXT = "https://api.bitbucket.org/2.0/repositories/w/r/pullrequests?page=2"


def pr(id_: int, state: str, reviewers: list[str]) -> dict:
    return {
        "id": id_,
        "state": state,
        "author": {"display_name": "Ann", "uuid": "{a}"},
        "links": {"self": {"href": f"/pr/{id_}"}, "html": {"href": f"/html/{id_}"}},
        "reviewers": [{"nickname": n, "uuid": "{" + n + "}"} for n in reviewers],
    }


PAGE = {
    "pagelen": 2,
    "size": 5,
    "page": 1,
    "next": NEXT,
    "values": [pr(1, "OPEN", ["abhin", "evzijst"]), pr(2, "MERGED", [])],
}

REPO = {
    "uuid": "{r}",
    "name": "dogslow",
    "parent": None,
    "owner": {"display_name": "Erik", "uuid": "{e}", "links": {"avatar": {"href": "/a"}}},
    "links": {"self": {"href": "/repo"}, "html": {"href": "/h"}, "clone": [{"href": "c1"}]},
}


def strip_values(keep: set[str] | None = None, drop: set[str] | None = None) -> list[dict]:
    """PAGE's values with only `keep` keys, or without `drop` keys."""
    out = []
    for v in PAGE["values"]:
        if keep is not None:
            out.append({k: x for k, x in v.items() if k in keep})
        else:
            out.append({k: x for k, x in v.items() if k not in (drop or set())})
    return out


ENVELOPE = {"pagelen": 2, "size": 5, "page": 1, "next": NEXT}

PAGE_CASES = [
    (None, PAGE),
    ("", PAGE),
    ("*", PAGE),
    ("+values.reviewers", PAGE),
    ("+values.*.*.*.*", PAGE),
    # Remove.
    ("-values.links", {**ENVELOPE, "values": strip_values(drop={"links"})}),
    ("-next,-page", {"pagelen": 2, "size": 5, "values": PAGE["values"]}),
    (
        "-values.links.*",
        {**ENVELOPE, "values": [{**v, "links": {}} for v in PAGE["values"]]},
    ),
    (
        "-values.reviewers.nickname",
        {
            **ENVELOPE,
            "values": [
                {**v, "reviewers": [{"uuid": r["uuid"]} for r in v["reviewers"]]}
                for v in PAGE["values"]
            ],
        },
    ),
    ("-*", {}),
    ("-values", ENVELOPE),
    # Whitelist: the paging keys go unless listed (the documented `next` pitfall).
    ("values.id", {"values": [{"id": 1}, {"id": 2}]}),
    ("next,values.id", {"next": NEXT, "values": [{"id": 1}, {"id": 2}]}),
    ("values.id,next", {"next": NEXT, "values": [{"id": 1}, {"id": 2}]}),
    ("values.id,,next", {"next": NEXT, "values": [{"id": 1}, {"id": 2}]}),
    ("values.*", {"values": PAGE["values"]}),
    ("values", {"values": PAGE["values"]}),
    ("*,-values", ENVELOPE),
    ("values.nosuch", {"values": [{}, {}]}),
    ("nosuch", {}),
    (
        # The §2.2 narrative example.
        "values.id,values.reviewers.nickname,values.state",
        {
            "values": [
                {
                    "id": 1,
                    "state": "OPEN",
                    "reviewers": [{"nickname": "abhin"}, {"nickname": "evzijst"}],
                },
                {"id": 2, "state": "MERGED", "reviewers": []},
            ]
        },
    ),
    (
        "values.links.self.href,values.author.display_name",
        {
            "values": [
                {"author": {"display_name": "Ann"}, "links": {"self": {"href": "/pr/1"}}},
                {"author": {"display_name": "Ann"}, "links": {"self": {"href": "/pr/2"}}},
            ]
        },
    ),
    ("values.author,values.author.uuid", {"values": strip_values(keep={"author"})}),
    # Add mixed with the other modes.
    ("-*,+next", {"next": NEXT}),
    ("-*,+values.id", {"values": [{"id": 1}, {"id": 2}]}),
    ("-values,+values.id", {**ENVELOPE, "values": [{"id": 1}, {"id": 2}]}),
    (
        "values.id,+values.reviewers",
        {"values": [{"id": v["id"], "reviewers": v["reviewers"]} for v in PAGE["values"]]},
    ),
    (
        "+values.reviewers,-values.links,-values.author",
        {**ENVELOPE, "values": strip_values(drop={"links", "author"})},
    ),
    # An unencoded `+` decodes to a space and matches nothing; it is still a plain entry.
    (" values.reviewers", {}),
    ("next, values.reviewers", {"next": NEXT}),
    ("-values.links, values.id", {}),
]


@pytest.mark.parametrize(("spec", "expected"), PAGE_CASES)
def test_fields_on_a_page(spec: str | None, expected: dict) -> None:
    before = copy.deepcopy(PAGE)
    assert apply_fields(PAGE, spec) == expected
    assert before == PAGE  # never mutated


REPO_CASES = [
    (
        "owner.display_name,uuid,links.self.href",
        {"uuid": "{r}", "owner": {"display_name": "Erik"}, "links": {"self": {"href": "/repo"}}},
    ),
    ("-links", {k: v for k, v in REPO.items() if k != "links"}),
    ("-links.*", {**REPO, "links": {}}),
    (
        "-owner.links,-links",
        {
            "uuid": "{r}",
            "name": "dogslow",
            "parent": None,
            "owner": {"display_name": "Erik", "uuid": "{e}"},
        },
    ),
    ("links.clone.href", {"links": {"clone": [{"href": "c1"}]}}),
    ("-*,+name,+owner.uuid", {"name": "dogslow", "owner": {"uuid": "{e}"}}),
    # A path that goes on past a scalar does not select it (`name` is dropped).
    ("*.uuid", {"parent": None, "owner": {"uuid": "{e}"}, "links": {}}),
    ("parent.owner.nickname", {"parent": None}),
    ("name.first", {}),
    ("-*.href", REPO),
    (
        "-*.*.href",
        # owner.links.avatar.href is one level deeper than *.*.href reaches.
        {**REPO, "links": {"self": {}, "html": {}, "clone": [{}]}},
    ),
]


@pytest.mark.parametrize(("spec", "expected"), REPO_CASES)
def test_fields_on_a_single_object(spec: str, expected: dict) -> None:
    assert apply_fields(REPO, spec) == expected


def test_query_string_plus_decodes_to_space_and_matches_nothing() -> None:
    unencoded = parse_qs("fields=+values.reviewers", keep_blank_values=True)["fields"][0]
    encoded = parse_qs("fields=%2Bvalues.reviewers")["fields"][0]
    assert unencoded == " values.reviewers"
    assert apply_fields(PAGE, encoded) == PAGE
    assert apply_fields(PAGE, unencoded) == {}
    assert wanted_additions(unencoded) == set()
    assert not wants_field(unencoded, "values.reviewers")


def test_space_entries_can_be_ignored_by_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fields, "UNENCODED_PLUS_WHITELISTS", False)
    assert apply_fields(PAGE, " values.reviewers") == PAGE
    assert apply_fields(PAGE, "next, values.reviewers") == {"next": NEXT}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, set()),
        ("", set()),
        ("+values.reviewers,+values.participants", {"values.reviewers", "values.participants"}),
        ("values.id,+values.reviewers,-links, values.participants", {"values.reviewers"}),
        ("+values.destination.repository.owner", {"values.destination.repository.owner"}),
        ("+", set()),
    ],
)
def test_wanted_additions(spec: str | None, expected: set[str]) -> None:
    assert wanted_additions(spec) == expected


@pytest.mark.parametrize(
    ("spec", "path", "expected"),
    [
        ("+values.reviewers", "values.reviewers", True),
        ("+values.reviewers.nickname", "values.reviewers", True),
        ("values.id,values.reviewers.nickname", "values.reviewers", True),
        ("+values.*.*.*.*", "values.participants", True),
        ("+values", "values.reviewers", False),
        ("-values.reviewers", "values.reviewers", False),
        ("*", "values.reviewers", False),
        ("+reviewers", "reviewers", True),
        (None, "values.reviewers", False),
    ],
)
def test_wants_field(spec: str | None, path: str, expected: bool) -> None:
    assert wants_field(spec, path) is expected
