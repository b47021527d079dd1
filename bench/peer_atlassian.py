"""Peer: the loop a user writes with atlassian-python-api's Cloud client and sqlite-utils.

Copies pull requests (every state) with comments and activity, issues with comments and
changes, and commits into SQLite, upserting by id; running it again re-reads everything, which
is how such a script picks up updates. Runs in .venv-bench as a subprocess of scripts/bench.py:

    python bench/peer_atlassian.py --base-url URL/2.0 --token T --workspace W --db PATH

and prints a JSON summary ({"rows": {table: n}}). Choices: the largest page sizes the API
documents (100; 50 for activity), PR lists with every ``state``, since ``pullrequests.each()``
only returns open ones and fetches each PR again; no concurrency, as such scripts are written.
"""

from __future__ import annotations

import json
from collections import Counter

# What scripts/bench.py reads back to compare with the world: (key, fields...) per entity.
SNAPSHOT = {
    "pullrequests": "select id, state, title from pullrequests",
    "comments": "select id from pr_comments union all select id from issue_comments",
    "pr_comment_counts": "select pr, count(*) from pr_comments group by pr",
    "issues": "select id, state, title from issues",
    "commits": "select id from commits",
}
STATES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")


def copy(cloud, db, workspaces: list[str]) -> Counter:
    """Copy every repository of ``workspaces``; returns rows upserted per table."""
    rows: Counter = Counter()

    def save(table: str, items: list[dict], pk: str = "id") -> None:
        if items:
            db[table].upsert_all(items, pk=pk, alter=True)
            rows[table] += len(items)

    def each(path: str, pagelen: int = 100, **params) -> list[dict]:
        return list(cloud._get_paged(path, params={"pagelen": pagelen, **params}))

    for ws in workspaces:
        for repo in each(f"repositories/{ws}"):
            name = repo["full_name"]
            base = f"repositories/{name}"
            prs = each(f"{base}/pullrequests", 50, state=list(STATES))
            save("pullrequests", [_pr(name, pr) for pr in prs])
            for pr in prs:
                key = f"{name}/{pr['id']}"
                comments = each(f"{base}/pullrequests/{pr['id']}/comments")
                save("pr_comments", [_comment(c, pr=key) for c in comments])
                activity = each(f"{base}/pullrequests/{pr['id']}/activity", 50)
                save("pr_activity", [_activity(key, a) for a in activity], pk="key")
            commits = each(f"{base}/commits")
            save("commits", [_commit(name, c) for c in commits])
            if not repo.get("has_issues"):
                continue
            issues = each(f"{base}/issues")
            save("issues", [_numbered(name, i) for i in issues])
            for issue in issues:
                key = f"{name}/{issue['id']}"
                comments = each(f"{base}/issues/{issue['id']}/comments")
                save("issue_comments", [_comment(c, issue=key) for c in comments])
                changes = each(f"{base}/issues/{issue['id']}/changes")
                save("issue_changes", [{**_flat(ch), "issue": key} for ch in changes])
    return rows


def _flat(obj: dict) -> dict:
    return {"id": obj.get("id"), "json": json.dumps(obj)}


def _pr(repo: str, pr: dict) -> dict:
    author = (pr.get("author") or {}).get("uuid")
    return {**_numbered(repo, pr), "author": author, "comment_count": pr.get("comment_count")}


def _comment(c: dict, pr: str | None = None, issue: str | None = None) -> dict:
    body = (c.get("content") or {}).get("raw")
    return {**_flat(c), "pr": pr, "issue": issue, "body": body, "updated_on": c.get("updated_on")}


def _activity(pr: str, a: dict) -> dict:
    kind = next(iter(k for k in a if k != "pull_request"), "")
    when = (a.get(kind) or {}).get("date") or (a.get(kind) or {}).get("updated_on")
    return {"key": f"{pr}/{kind}/{when}", "pr": pr, "kind": kind, "json": json.dumps(a)}


def _numbered(repo: str, obj: dict) -> dict:
    """The columns a pull request and an issue share: both are numbered within a repository."""
    return {
        "id": f"{repo}/{obj['id']}",
        "repo": repo,
        "number": obj["id"],
        "title": obj.get("title"),
        "state": obj.get("state"),
        "updated_on": obj.get("updated_on"),
        "json": json.dumps(obj),
    }


def _commit(repo: str, c: dict) -> dict:
    message, date = c.get("message"), c.get("date")
    return {"id": f"{repo}/{c['hash']}", "repo": repo, "message": message, "date": date}


def main() -> None:
    from peer_cli import parser  # beside this file: a peer runs as a script

    args = parser(__doc__).parse_args()
    import sqlite_utils
    from atlassian.bitbucket import Cloud

    root = args.base_url.rstrip("/").removesuffix("/2.0")  # Cloud appends /2.0 itself
    cloud = Cloud(url=root, token=args.token)
    db = sqlite_utils.Database(args.db)
    rows = copy(cloud, db, args.workspace)
    print(json.dumps({"rows": dict(rows)}))


if __name__ == "__main__":
    main()
