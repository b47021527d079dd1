"""A Data Center pull request's changes and diff (bitbucket-server.md §1.2, §2.10, §2.13).

Commits change files as on Cloud (simulator/cloud/diffstat.py: an rng per commit hash, merges
change nothing); a PR's changes are those of its commits (``commit_ids``), oldest first,
folded per path, so pushing to a PR changes them at once. ``…/changes`` answers one page and
ignores ``start`` (at most ``limit``, default 25, or the resource's hard limit: ``isLastPage``
false when more changed). ``…/diff`` is the JSON diff without context lines (the simulator
renders no context whatever ``contextLines`` asks: choice) and stops at ``MAX_DIFF_LINES``
lines in all (Bitbucket's ``page.max.diff.lines`` default): the file it stops in is
``truncated`` at segment, hunk and diff level, later files are left out, and the top level
says ``truncated``.
"""

from __future__ import annotations

import hashlib

from starlette.responses import Response

from bbmirror.simulator.common.files import Change, commit_changes, fold
from bbmirror.simulator.common.responses import JSONResponse
from bbmirror.simulator.server.call import DEFAULT_LIMIT, Call, Doc
from bbmirror.simulator.server.world import DcPullRequest, DcRepository

MAX_DIFF_LINES = 10_000
TYPES = {"added": "ADD", "removed": "DELETE", "modified": "MODIFY", "renamed": "MOVE"}


def pr_changes(repo: DcRepository, pr: DcPullRequest) -> list[Change]:
    """The files a PR's commits change, folded (module docstring)."""
    shas = [s for s in reversed(pr.commit_ids) if s in repo.commits]
    key = f"dc/{repo.id}"
    return fold([c for s in shas for c in commit_changes(key, s, len(repo.commits[s].parents))])


def _path(path: str | None) -> Doc | None:
    if path is None:
        return None
    parts = path.split("/")
    name = parts[-1]
    doc: Doc = {"components": parts, "parent": "/".join(parts[:-1]), "name": name}
    if "." in name:
        doc["extension"] = name.rsplit(".", 1)[1]
    doc["toString"] = path
    return doc


def _change(ch: Change) -> Doc:
    doc: Doc = {
        "contentId": hashlib.sha1(f"{ch}".encode()).hexdigest(),
        "path": _path(ch.new or ch.old),
        "executable": False,
        "percentUnchanged": -1,
        "type": TYPES[ch.status],
        "nodeType": "FILE",
        "properties": {"gitChangeType": TYPES[ch.status]},
    }
    if ch.status == "renamed":
        doc["srcPath"] = _path(ch.old)
        doc["srcExecutable"] = False
    return doc


def changes(c: Call) -> Response:
    """``GET …/pull-requests/{id}/changes``: one page; ``start`` is ignored (§1.2)."""
    repo, pr = c.pr()
    found = pr_changes(repo, pr)
    cap = c.config.max_limits.get("changes", c.config.max_limit)
    limit = min(c.integer("limit", DEFAULT_LIMIT, 1), cap)
    values = [_change(ch) for ch in found[:limit]]
    doc: Doc = {
        "fromHash": pr.from_commit,
        "toHash": pr.to_commit,
        "properties": {"changeScope": "ALL"},
        "size": len(values),
        "limit": limit,
        "isLastPage": len(found) <= limit,
        "values": values,
        "start": 0,
        "filter": None,
    }
    if len(found) > limit:
        doc["nextPageStart"] = limit
    return JSONResponse(doc)


def _segment(kind: str, count: int, budget: int, start: int) -> tuple[Doc, int]:
    shown = min(count, budget)
    lines = [
        {"source": start + n, "destination": start + n, "line": f"{kind.lower()} line {n + 1}"}
        for n in range(shown)
    ]
    for line in lines:
        line["truncated"] = False
    return {"type": kind, "lines": lines, "truncated": shown < count}, shown


def _diff(ch: Change, budget: int, pr: DcPullRequest) -> tuple[Doc, int]:
    """One file's diff within ``budget`` lines: its doc and the lines it used."""
    segments, used = [], 0
    for kind, count in (("REMOVED", ch.removed), ("ADDED", ch.added)):
        if count:
            segment, shown = _segment(kind, count, budget - used, 1)
            segments.append(segment)
            used += shown
    cut = used < ch.added + ch.removed
    hunk = {
        "sourceLine": 1 if ch.removed else 0,
        "sourceSpan": ch.removed,
        "destinationLine": 1 if ch.added else 0,
        "destinationSpan": ch.added,
        "segments": segments,
        "truncated": cut,
    }
    doc: Doc = {
        "source": _path(None if ch.status == "added" else ch.old),
        "destination": _path(ch.new),
        "hunks": [hunk] if segments else [],
        "truncated": cut,
    }
    return doc, used


def diff(c: Call) -> Response:
    """``GET …/pull-requests/{id}/diff``: the JSON diff, capped at ``MAX_DIFF_LINES``."""
    repo, pr = c.pr()
    budget = MAX_DIFF_LINES
    diffs, cut = [], False
    for ch in pr_changes(repo, pr):
        if budget <= 0 and ch.added + ch.removed:
            cut = True
            break
        doc, used = _diff(ch, budget, pr)
        diffs.append(doc)
        budget -= used
        if doc["truncated"]:
            cut = True
            break
    context = c.integer("contextLines", -1, -1)
    return JSONResponse(
        {
            "fromHash": pr.to_commit,
            "toHash": pr.from_commit,
            "contextLines": 10 if context < 0 else context,
            "whitespace": "SHOW",
            "diffs": diffs,
            "truncated": cut,
        }
    )


def file_row(pr: DcPullRequest, ch: Change, lines: bool) -> tuple:
    """The oracle's values (as for Cloud): lines are None when the diff was cut before."""
    added, removed = (ch.added, ch.removed) if lines else (None, None)
    return (pr.from_commit, ch.status, ch.old, added, removed)


def expected_files(repo: DcRepository, pr: DcPullRequest) -> list[tuple[Change, bool]]:
    """Each changed file and whether the mirror knows its lines (the diff held it whole)."""
    budget, out, cut = MAX_DIFF_LINES, [], False
    for ch in pr_changes(repo, pr):
        lines = ch.added + ch.removed
        whole = not cut and (lines <= budget)
        if not whole:
            cut = True
        budget -= lines
        out.append((ch, whole))
    return out
