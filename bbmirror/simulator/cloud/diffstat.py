"""Files changed by commits, and the diffstat of a range (bitbucket-cloud.md §3.14).

Each commit's file changes come from an rng of its own, seeded by its hash (which the world's
seed made), so every other byte of a world is unchanged and a pushed commit has its changes at
once. A merge commit changes nothing of its own (a clean merge). ``GET /diffstat/{a}..{b}``
(``merge`` true, the default) is the three-way diff, the one a pull request shows: the changes
of ``git log b..a``, oldest first, folded per path. ``GET /pullrequests/{id}/diffstat`` answers
302 to the diffstat of the PR's ``source%0Ddestination`` spec, as the field does
(``?from_pullrequest_id=N&topic=true``, seen in go-bitbucket PR #282). A page holds up to 500
entries (the reference's sample ``"pagelen": 500``); ``pagelen`` above 500 is clamped.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.responses import Response

from bbmirror.simulator.cloud.call import ApiError, Call, Doc, commit_order, resolve_ref
from bbmirror.simulator.cloud.world import PullRequest, Repository
from bbmirror.simulator.common.files import Change, commit_changes, fold

MAX_PAGELEN = 500


_RANGES: dict[tuple[str, str, str, int], list[Change]] = {}


def range_changes(repo: Repository, source: str, destination: str) -> list[Change]:
    """The three-way diffstat of ``source..destination`` (full hashes): ``git log
    destination..source``'s changes folded (module docstring). A commit's parents never
    change, so a range is remembered (keyed by the graph's size too: commits only come)."""
    key = (repo.uuid, source, destination, len(repo.commits))
    if key not in _RANGES:
        if len(_RANGES) > 50_000:
            _RANGES.clear()
        order = list(reversed(commit_order(repo, [source], [destination])))
        parents = {sha: len(repo.commits[sha].parents) for sha in order}
        changes = [c for sha in order for c in commit_changes(repo.uuid, sha, parents[sha])]
        _RANGES[key] = fold(changes)
    return _RANGES[key]


def pr_changes(repo: Repository, pr: PullRequest) -> list[Change]:
    """What a pull request's diffstat shows: the range of its recorded commits."""
    return range_changes(repo, pr.source_commit, pr.destination_commit)


def _file(c: Call, repo: Repository, path: str | None, sha: str) -> Doc | None:
    if path is None:
        return None
    base = f"{c.base}/repositories/{repo.workspace}/{repo.slug}"
    return {
        "path": path,
        "escaped_path": path,
        "type": "commit_file",
        "links": {"self": {"href": f"{base}/src/{sha}/{path}"}},
    }


def render(c: Call, repo: Repository, ch: Change, source: str, destination: str) -> Doc:
    """One diffstat element (§3.14): ``old`` at the destination, ``new`` at the source."""
    return {
        "type": "diffstat",
        "status": ch.status,
        "lines_removed": ch.removed,
        "lines_added": ch.added,
        "old": _file(c, repo, ch.old, destination),
        "new": _file(c, repo, ch.new, source),
    }


def _spec(repo: Repository, spec: str) -> tuple[str, str]:
    """``a..b``, the PR form ``{w}/{r}:a%0Db`` or one commit (against its first parent)."""
    spec = unquote(spec)
    if ":" in spec and "\r" in spec:
        name, pair = spec.split(":", 1)
        if name != repo.full_name:
            raise ApiError(404, f"Repository not found: {name}")
        a, b = pair.split("\r", 1)
    elif ".." in spec:
        a, b = spec.split("..", 1)
    else:
        sha = resolve_ref(repo, spec)
        parents = repo.commits[sha].parents
        return sha, parents[0] if parents else ""
    return resolve_ref(repo, a), resolve_ref(repo, b)


def diffstat(c: Call) -> Response:
    """``GET /repositories/{w}/{r}/diffstat/{spec}``: a page of diffstat elements."""
    repo = c.repo()
    source, destination = _spec(repo, c.params["spec"])
    if c.arg("merge") not in (None, "true") or c.args("path"):
        raise ApiError(400, "Only the default three-way diffstat is simulated")
    changes = range_changes(repo, source, destination)
    pagelen = min(c._int("pagelen", MAX_PAGELEN, "Invalid pagelen"), MAX_PAGELEN)
    page = c._int("page", 1, "Invalid page")
    start = (page - 1) * pagelen
    env: Doc = {"pagelen": pagelen, "size": len(changes), "page": page}
    env["values"] = [
        render(c, repo, ch, source, destination) for ch in changes[start : start + pagelen]
    ]
    if start + pagelen < len(changes):
        env["next"] = c.link(page=page + 1)
    if page > 1:
        env["previous"] = c.link(page=page - 1)
    return c.json(env)


def pr_diffstat(c: Call) -> Response:
    """``GET /pullrequests/{id}/diffstat``: 302 to the diffstat of the PR's commits."""
    repo, pr = c.pr()
    spec = f"{repo.full_name}:{pr.source_commit[:12]}%0D{pr.destination_commit[:12]}"
    base = f"{c.base}/repositories/{repo.workspace}/{repo.slug}"
    location = f"{base}/diffstat/{spec}?from_pullrequest_id={pr.id}&topic=true"
    return Response(status_code=302, headers={"Location": location})


def file_row(pr: PullRequest, ch: Change) -> tuple:
    """The oracle's ``pullrequest_files`` values: source commit (the PR's 12-char form),
    status, old path, lines added and removed."""
    return (pr.source_commit[:12], ch.status, ch.old, ch.added, ch.removed)
