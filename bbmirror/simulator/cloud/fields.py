"""Bitbucket Cloud partial responses (`fields=`) applied to a rendered response document.

Reference: bitbucket-cloud.md §2.2. Entries are comma-separated: `-path` removes, `+path` keeps
the defaults and adds `path`, a plain `path` whitelists. `*` matches every key at one level and
lists are transparent (`values.id` reaches every element of `values`).

Choices where the reference is silent ([INF], also in docs/simulator.md):

- Whitelisting starts at the document root, so the paging keys (`next`, `page`, `pagelen`,
  `size`, `previous`) vanish unless listed: `fields=next,values.id` (the documented pitfall).
- A whitelisted or added path keeps its whole default subtree; entries are unions, so
  `fields=owner,owner.display_name` keeps all of `owner`.
- `+path` beats `-path`: `-*,+foo` keeps only `foo`; `-values,+values.id` keeps `values` with
  only `id` in each element. A `-` entry beats a plain one (`fields=*,-links` drops `links`).
- Entries are not trimmed. An unencoded `+` arrives as a space, and ` reviewers` is then a
  plain entry naming a field that does not exist: it matches nothing, and (being a plain entry)
  switches on whitelisting, so `fields= reviewers` renders `{}`. With
  `UNENCODED_PLUS_WHITELISTS = False` such space-led entries are ignored instead.
- A path that goes on past a scalar does not select it (`fields=name.first` drops `name`); a
  null on such a path is kept.
- Empty entries (`a,,b`) and a bare `+` or `-` are ignored.
- The input is never mutated; unchanged sub-objects of the result may be shared with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNENCODED_PLUS_WHITELISTS = True
"""Whether a space-led entry (an unencoded `+`) counts as a whitelist entry matching nothing."""


@dataclass(frozen=True)
class FieldEntry:
    """One `fields` entry: mode is '+', '-' or '' (whitelist); segs is its dotted path."""

    mode: str
    segs: tuple[str, ...]

    @property
    def path(self) -> str:
        return ".".join(self.segs)


def parse_fields(spec: str | None) -> list[FieldEntry]:
    """Split a `fields` value into entries, dropping empty ones."""
    entries: list[FieldEntry] = []
    for raw in (spec or "").split(","):
        mode = raw[:1] if raw[:1] in ("+", "-") else ""
        path = raw[len(mode) :]
        if not path:
            continue
        if not mode and path[0].isspace() and not UNENCODED_PLUS_WHITELISTS:
            continue
        entries.append(FieldEntry(mode, tuple(path.split("."))))
    return entries


def apply_fields(doc: dict, spec: str | None) -> dict:
    """Apply a `fields` value to a whole response (paging envelope or single object)."""
    entries = parse_fields(spec)
    if not entries:
        return doc
    whitelisting = any(e.mode == "" for e in entries)
    return _project(doc, entries, full=not whitelisting)


def wanted_additions(spec: str | None) -> set[str]:
    """The `+` paths requested (without the `+`), so renderers can include omitted fields."""
    return {e.path for e in parse_fields(spec) if e.mode == "+"}


def wants_field(spec: str | None, path: str) -> bool:
    """Whether a `+` or whitelist entry reaches `path` (so a renderer should include it).

    `+values.reviewers`, `values.reviewers.nickname` (the §2.2 narrative example) and
    `+values.*.*` all want `values.reviewers`; `+values` and `-values.reviewers` do not.
    """
    segs = path.split(".")
    return any(
        e.mode != "-"
        and len(e.segs) >= len(segs)
        and all(s in (k, "*") for s, k in zip(e.segs, segs, strict=False))
        for e in parse_fields(spec)
    )


def _project(value: Any, entries: list[FieldEntry], full: bool) -> Any:
    """Keep what the entries select below this node; `full` keeps unmentioned children."""
    if isinstance(value, list):
        return [_project(v, entries, full) for v in value]
    if not isinstance(value, dict):
        return value
    if full and not entries:
        return value
    out: dict[str, Any] = {}
    for key, child in value.items():
        matched = [e for e in entries if e.segs[0] in (key, "*")]
        ends = {e.mode for e in matched if len(e.segs) == 1}
        through = {e.mode for e in matched if len(e.segs) > 1}
        if "+" in ends:
            child_full = True
        elif "-" in ends:
            if "+" not in through:
                continue
            child_full = False
        elif "" in ends or full:
            child_full = True
        elif through & {"", "+"} and isinstance(child, dict | list | None):
            # A path that continues past a scalar does not select it.
            child_full = False
        else:
            continue
        rest = [FieldEntry(e.mode, e.segs[1:]) for e in matched if len(e.segs) > 1]
        out[key] = _project(child, rest, child_full)
    return out
