"""Which rows a correct mirror of a Data Center world holds (shared by tests and benchmarks)."""

from __future__ import annotations

from collections import defaultdict

from bbmirror.rows import to_utc
from bbmirror.simulator.common.graph import ancestors
from bbmirror.simulator.common.oracle import QUERIES as ALL_QUERIES
from bbmirror.simulator.common.oracle import actual, compare
from bbmirror.simulator.server.call import JIRA_COMMIT_CAP
from bbmirror.simulator.server.prsize import expected_files, file_row
from bbmirror.simulator.server.world import DcWorld, jira_keys

SOURCE = "dc"


def _t(ms: int | None) -> str | None:
    return to_utc(ms) if ms is not None else None


def expected(world: DcWorld, source: str = SOURCE) -> dict[str, dict[str, tuple]]:
    """Every row the mirror must hold alive, keyed by table then id."""
    exp: dict[str, dict[str, tuple]] = defaultdict(dict)
    review = {"APPROVED": "approved", "NEEDS_WORK": "changes_requested"}
    for repo in world.repositories.values():
        project = world.projects[repo.project_id]
        rid = f"{source}/repo/{repo.id}"
        exp["repositories"][rid] = (repo.slug, f"{project.key}/{repo.slug}", 0)
        for name, head in repo.branches.items():
            exp["branches"][f"{rid}/branch/{name}"] = (head,)
        for name, tag in repo.tags.items():
            exp["tags"][f"{rid}/tag/{name}"] = (tag.target,)
        for name in repo.labels:
            exp["repository_labels"][f"{rid}/label/{name}"] = (name,)
        for c in map(repo.commits.get, _reachable(repo)):
            author = f"{_display_name(world, c)} <{c.author_email}>"
            exp["commits"][f"{rid}/{c.id}"] = (c.message, author, len(c.parents))
        for pr in repo.pull_requests.values():
            key = f"{rid}/pr/{pr.id}"
            comments = list(pr.all_comments())
            exp["pullrequests"][key] = (
                pr.title,
                pr.state,
                f"{source}/user/{pr.author_id}",
                pr.from_branch,
                pr.to_branch,
                len(comments),
                _t(pr.updated),
                int(pr.draft),
            )
            for p in pr.reviewers + pr.participants:
                exp["pullrequest_participants"][f"{key}/{source}/user/{p.user_id}"] = (
                    int(p.approved),
                    review.get(p.status),
                )
            for sha in pr.commit_ids:
                exp["pullrequest_commits"][f"{key}/{sha}"] = ()
            for ch, whole in expected_files(repo, pr):
                row = file_row(pr, ch, whole)
                exp["pullrequest_files"][f"{key}/file/{ch.new or ch.old}"] = row
            for root in pr.comments:
                _thread(exp, root, None, key, source)
            shown = [  # a thread deleted at its root takes its COMMENTED activity with it
                a
                for a in pr.activities
                if a.action != "COMMENTED" or a.comment_id is None or pr.comment(a.comment_id)
            ]
            exp["activity_count"][key] = (len(shown),)
            text = " ".join((pr.title, pr.description, pr.from_branch))
            for issue in jira_keys(text):
                exp["jira_links"][f"{key}/jira/text/{issue}"] = ()
            # The Jira integration's answer: keys of the PR's first 100 commits (§4).
            for sha in pr.commit_ids[:JIRA_COMMIT_CAP]:
                for issue in jira_keys(repo.commits[sha].message):
                    exp["jira_issue_links"][f"{key}/jira/jira/{issue}"] = ()
    return exp


def _reachable(repo) -> set[str]:
    """Commits a client can still reach: from refs and from pull requests (the world keeps
    amended-away commits, as git does until it collects garbage; the API never lists them)."""
    roots = [*repo.branches.values(), *(t.target for t in repo.tags.values())]
    for pr in repo.pull_requests.values():
        roots += [pr.from_commit, pr.to_commit, *pr.commit_ids]
        roots += [pr.merge_commit] if pr.merge_commit else []
    return ancestors(repo.commits, roots)


def _display_name(world: DcWorld, commit) -> str:
    """A commit by a known user shows the user's display name; others the git name."""
    user = world.users.get(commit.author_id) if commit.author_id is not None else None
    return user.display_name if user else commit.author_name


def _thread(exp, comment, parent, pr_key: str, source: str) -> None:
    if comment.deleted:
        return
    parent_key = f"{source}/comment/{parent}" if parent is not None else None
    exp["comments"][f"{source}/comment/{comment.id}"] = (
        pr_key,
        None,
        comment.text,
        0,
        parent_key,
    )
    if comment.severity == "BLOCKER":  # a task (flavours/server/rows_tasks.py)
        resolved = comment.state == "RESOLVED"
        user = f"{source}/user/{comment.resolver_id}" if resolved and comment.resolver_id else None
        exp["pullrequest_tasks"][f"{pr_key}/task/{comment.id}"] = (
            pr_key,
            comment.id,
            f"{source}/comment/{comment.id}",
            "RESOLVED" if resolved else "UNRESOLVED",
            f"{source}/user/{comment.author_id}",
            user,
            _t(comment.resolved) if resolved else None,
        )
    for reply in comment.replies:
        _thread(exp, reply, comment.id, pr_key, source)


QUERIES = {
    name: sql
    for name, sql in ALL_QUERIES.items()
    if name
    in {
        "repositories",
        "branches",
        "tags",
        "repository_labels",
        "commits",
        "pullrequests",
        "pullrequest_participants",
        "pullrequest_commits",
        "pullrequest_files",
        "comments",
        "activity_count",
        "pullrequest_tasks",
    }
}
QUERIES["jira_links"] = "select id from jira_links where found_in = 'text'"
QUERIES["jira_issue_links"] = "select id from jira_links where found_in = 'jira'"


def differences(world: DcWorld, db: str, limit: int = 5, source: str = SOURCE) -> list[str]:
    """Human-readable differences between the world and the mirror (empty when equal)."""
    return compare(expected(world, source), actual(db, source, QUERIES), QUERIES, limit)
