"""Peer: dlt's ``rest_api`` source into SQLite through its SQLAlchemy destination.

What a data engineer configures: per repository, pull requests and issues read with an
incremental cursor on ``updated_on`` (``q=updated_on >= {incremental.start_value}``, merged by
key), their comments, activity and changes as child resources of the changed parents, and
commits re-read in full (iterator paging offers no cursor). Runs in .venv-bench as a
subprocess of scripts/bench.py:

    python bench/peer_dlt.py --base-url URL/2.0 --token T --workspace W --db PATH

and prints a JSON summary ({"rows": {table: n}}). Choices: one resource set per repository,
because an incremental cursor shared by all repositories would skip older changes in quieter
ones; the pipeline's state lives under ``--state-dir`` (default: beside the database).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SNAPSHOT = {
    "pullrequests": "select repo || '/' || id, state, title from main__bb.pullrequests",
    "comments": "select id from main__bb.pr_comments union all"
    " select id from main__bb.issue_comments",
    "pr_comment_counts": "select parent, count(*) from main__bb.pr_comments group by parent",
    "issues": "select repo || '/' || id, state, title from main__bb.issues",
    "commits": "select repo || '/' || hash from main__bb.commits",
}
STATES = ["OPEN", "MERGED", "DECLINED", "SUPERSEDED"]
EPOCH = "1970-01-01T00:00:00+00:00"


def _tag(repo: str, **more: str):
    """A processing step adding the repository (and parent keys) to every record."""

    def step(item: dict) -> dict:
        item["repo"] = repo
        for name, field in more.items():
            item[name] = f"{repo}/{item[field]}"
        return item

    return step


def _keyed(item: dict) -> dict:
    item["key"] = hashlib.sha1(json.dumps(item, sort_keys=True).encode()).hexdigest()
    return item


def repo_resources(name: str, has_issues: bool) -> list[dict]:
    """rest_api resources for one repository (``name`` is workspace/slug)."""
    safe = name.replace("/", "_").replace("-", "_")
    base = f"repositories/{name}"
    incremental = {"cursor_path": "updated_on", "initial_value": EPOCH}

    def listing(kind: str, pagelen: int, **params) -> dict:
        return {
            "path": f"{base}/{kind}",
            "params": {
                "pagelen": pagelen,
                "sort": "updated_on",
                "q": "updated_on >= {incremental.start_value}",
                **params,
            },
            "incremental": incremental,
        }

    def child(parent: str, path: str, table: str, pagelen: int, key: str, **extra) -> dict:
        return {
            "name": f"{safe}_{table}",
            "table_name": table,
            "primary_key": key,
            "endpoint": {
                "path": f"{base}/{path}",
                "params": {"pagelen": pagelen},
            },
            "include_from_parent": ["id"],
            "processing_steps": [{"map": _tag(name, **extra)}]
            + ([{"map": _keyed}] if key == "key" else []),
            "_parent": parent,
        }

    prs = f"{safe}_pullrequests"
    resources = [
        {
            "name": prs,
            "table_name": "pullrequests",
            "primary_key": ["repo", "id"],
            "endpoint": listing("pullrequests", 50, state=STATES),
            "processing_steps": [{"map": _tag(name)}],
        },
        child(prs, f"pullrequests/{{resources.{prs}.id}}/comments", "pr_comments", 100, "id"),
        child(prs, f"pullrequests/{{resources.{prs}.id}}/activity", "pr_activity", 50, "key"),
        {
            "name": f"{safe}_commits",
            "table_name": "commits",
            "primary_key": ["repo", "hash"],
            "endpoint": {"path": f"{base}/commits", "params": {"pagelen": 100}},
            "processing_steps": [{"map": _tag(name)}],
        },
    ]
    if has_issues:
        issues = f"{safe}_issues"
        resources += [
            {
                "name": issues,
                "table_name": "issues",
                "primary_key": ["repo", "id"],
                "endpoint": listing("issues", 100),
                "processing_steps": [{"map": _tag(name)}],
            },
            child(
                issues, f"issues/{{resources.{issues}.id}}/comments", "issue_comments", 100, "id"
            ),
            child(issues, f"issues/{{resources.{issues}.id}}/changes", "issue_changes", 100, "id"),
        ]
    for r in resources:
        parent = r.pop("_parent", None)
        if parent:  # the parent's key lands in _<parent>_id; name it for the comparison
            column = f"_{parent}_id"
            r["processing_steps"].insert(0, {"map": _parent_key(name, column)})
    return resources


def _parent_key(repo: str, column: str):
    def step(item: dict) -> dict:
        item["parent"] = f"{repo}/{item.pop(column)}"
        return item

    return step


def main() -> None:
    from peer_cli import parser  # beside this file: a peer runs as a script

    options = parser(__doc__)
    options.add_argument("--state-dir", help="dlt's working directory (pipeline state)")
    args = options.parse_args()
    state_dir = args.state_dir or str(Path(args.db).with_suffix(".dlt"))
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOAD__WORKERS", "1")  # SQLite takes one writer at a time
    import dlt
    import requests
    from dlt.sources.rest_api import rest_api_source

    headers = {"Authorization": f"Bearer {args.token}"}
    resources: list[dict] = []
    root = args.base_url.rstrip("/")
    with requests.Session() as http:
        for ws in args.workspace:  # the repository list decides the resources: read it first
            url: str | None = f"{root}/repositories/{ws}?pagelen=100"
            while url:
                response = http.get(url, headers=headers)
                response.raise_for_status()
                page = response.json()
                for repo in page["values"]:
                    resources += repo_resources(repo["full_name"], bool(repo.get("has_issues")))
                url = page.get("next")
    source = rest_api_source(
        {
            "client": {
                "base_url": args.base_url.rstrip("/") + "/",
                "auth": {"type": "bearer", "token": args.token},
                "paginator": {"type": "json_link", "next_url_path": "next"},
            },
            "resource_defaults": {
                "write_disposition": "merge",
                "endpoint": {"data_selector": "values"},
            },
            "resources": resources,
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bitbucket",
        destination=dlt.destinations.sqlalchemy(f"sqlite:///{Path(args.db).absolute()}"),
        dataset_name="bb",
        pipelines_dir=state_dir,
    )
    info = pipeline.run(source)
    rows = {
        table: n
        for table, n in pipeline.last_trace.last_normalize_info.row_counts.items()
        if not table.startswith("_dlt")
    }
    del info
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
