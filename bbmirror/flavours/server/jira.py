"""A pull request's Jira issues, read only where the answer can hold one (issue 14).

The Jira integration's PR issues endpoint "retrieves Jira issue keys that are associated with
the commits in the specified pull request" (bitbucket-server.md §4): keys come from the PR's
commit messages, nothing else. So a PR none of whose commit messages holds a candidate key
(``[A-Z][A-Z0-9_]+-\\d+``, looser than any key Bitbucket links) has an empty answer, known
without asking: its Jira links are tombstoned like an empty answer's would be. The messages
come from the store (``pullrequest_commits`` ⋈ ``commits``), whichever way the PR's commits
were mirrored, so the read waits until they are: after the pull-request walk, and only while
the stored PR commits agree with the stored PRs (coverage.py ``covers``).

The PRs whose issues are due stay state (``JIRA_TODO`` in the pull requests state, as numbers):
a PR joins it in the transaction that writes its changed children, and leaves it in the
transaction that writes its issues; one whose read failed stays for the next run.
"""

from __future__ import annotations

import asyncio
import re

from bbmirror.engine.base import ChildRows, Engine
from bbmirror.engine.outcome import now
from bbmirror.engine.streams import Context, Stream
from bbmirror.rows import pullrequest_key
from bbmirror.store.db import SyncState

JIRA_TODO = "jira"  # pull requests state: PR numbers whose Jira issues are still to read
CANDIDATE = re.compile(r"[A-Z][A-Z0-9_]+-[0-9]+")  # no word boundaries: a superset of keys


class JiraDue(Engine):
    """Notes, with the children of changed PRs, that their Jira issues are due."""

    def children_read(self, stream: Stream, state: SyncState, numbers: set[int]) -> None:
        super().children_read(stream, state, numbers)
        due = {n for n in numbers if isinstance(n, int)}
        if stream.name == "pullrequests" and due:
            state.extra[JIRA_TODO] = sorted(set(state.extra.get(JIRA_TODO, [])) | due)
            self.store.put_state(state)  # inside the transaction that wrote the children


def with_candidates(engine: Engine, repository_id: str) -> set[int]:
    """Numbers of the live PRs some stored commit message of which holds a candidate key."""
    sql = """
        SELECT p.number, c.message FROM pullrequests p
        JOIN pullrequest_commits pc
          ON pc.id >= p.id || '/' AND pc.id < p.id || '0' AND pc.deleted_at IS NULL
        JOIN commits c ON c.id = pc.commit_id
        WHERE p.repository_id = ? AND p.deleted_at IS NULL AND c.message GLOB '*[A-Z0-9_]-[0-9]*'"""
    rows = engine.store.conn.execute(sql, [repository_id])
    return {number for number, message in rows if CANDIDATE.search(message or "")}


async def read_jira(engine: Engine, ctx: Context, repository_id: str) -> None:
    """Jira issues of the PRs due: asked where a commit names a candidate key, known empty
    elsewhere."""
    prs = engine.streams["pullrequests"]
    stream = engine.streams["pr_jira"]
    state = engine.store.get_state(engine.source.name, repository_id, prs.name)
    if state is None or not engine.wanted(stream.name):
        return
    if "pr_commits" not in state.extra.get("covers", prs.children):
        return  # stored PR commits lag behind their PRs: wait for the run that reads them
    waiting = set(state.extra.get("redo", []))  # their children failed: commits may be stale
    todo = set(state.extra.get(JIRA_TODO, [])) - waiting
    if not todo:
        return
    ask = sorted(todo & with_candidates(engine, repository_id))
    quiet = todo - set(ask)  # the answer would be []: what they linked no longer is
    if quiet:
        with engine.store.transaction():
            for number in sorted(quiet):
                where = {"pullrequest_id": pullrequest_key(repository_id, number)}
                if engine.store.has_alive(stream.table, where):
                    gone = engine.store.tombstone(
                        stream.table, {**where, "found_in": "jira"}, set(), now()
                    )
                    engine.summary.add({stream.table: gone})
            _forget(engine, state, quiet)
    jobs = [
        engine.fetch_child(
            stream,
            {**ctx, "pullrequest_id": pullrequest_key(repository_id, n), "number": str(n)},
            pullrequest_key(repository_id, n),
        )
        for n in ask
    ]
    results = await asyncio.gather(*jobs)
    done = set()
    with engine.store.transaction():
        for number, child in zip(ask, results, strict=True):
            if isinstance(child, ChildRows):
                engine.write(child.rows)
                for table, where, keep in child.tombstones:
                    engine.summary.add({table: engine.store.tombstone(table, where, keep, now())})
                done.add(number)
        _forget(engine, state, done)


def _forget(engine: Engine, state: SyncState, done: set[int]) -> None:
    """Drop read PRs from the to-do list; call inside the transaction that records them."""
    if done:
        state.extra[JIRA_TODO] = sorted(set(state.extra.get(JIRA_TODO, [])) - done)
        engine.store.put_state(state)
