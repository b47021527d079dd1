"""Cloud code insights (issue 15): which commits' reports are read, and reading them.

Reports hang on commits (``/commit/{hash}/reports``, bitbucket-cloud.md §3.21) and no list
says which commits have any, so every commit asked costs a request, and every report one more
for its annotations. Most repositories have none. The choice:

* **Probe**: a repository is asked about its main branch head once; again only when that
  head moves (a push) while no report was ever found, or on ``--full``/``--reconcile``.
  A repository without code insights costs one request on the first sync and one per main
  branch push after.
* **Where the probe found reports**: the main branch head and the source commit of every
  open pull request (what a reviewer sees: PR merge checks read these), each once; commits
  whose reports were PENDING are read again every run until none is (like builds still
  running), unless the report is over a day old by the server's clock (stuck: a tool that
  never finishes would cost a request a run forever; ``--reconcile`` reads it again).
  Older commits, merged PRs' later history and forks' commits are not asked.
  Cost per commit: 1 + one annotations list per report.

State (``insight_reports`` stream state of the repository): ``found`` (a probe found
reports), ``probed`` (the head last probed), ``read`` (commit → ``done`` | ``pending``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from bbmirror.engine.base import ChildRows, Engine
from bbmirror.engine.runner import Unit
from bbmirror.rows import commit_key, to_utc
from bbmirror.store.db import SyncState

STREAM = "insight_reports"
PENDING_FOR = timedelta(days=1)  # a report PENDING longer is stuck: left to --reconcile
OPEN_SOURCES = """SELECT DISTINCT c.hash FROM pullrequests p JOIN commits c
  ON c.repository_id = p.repository_id AND c.deleted_at IS NULL
  AND substr(c.hash, 1, length(p.source_commit)) = p.source_commit
  WHERE p.repository_id = ? AND p.state = 'OPEN' AND p.deleted_at IS NULL
  AND length(p.source_commit) >= 7"""


class InsightsHook(Engine):
    """The ``insight_reports`` step of Cloud's plan (see the module docstring)."""

    async def read_insights(self, unit: Unit) -> None:
        """Step ``insight_reports``: probe, or read the commits that are due."""
        scope = unit.scope
        state = self.store.get_state(self.source.name, scope, STREAM)
        if state is None or self.options.full:
            state = SyncState(source=self.source.name, scope=scope, stream=STREAM)
        read: dict[str, str] = dict(state.extra.get("read") or {})
        if self.options.reconcile:
            read = {}
        head = self._head(unit)
        now: set[str] = set()  # read this run: a PENDING one is read again next run, not now
        if not state.extra.get("found"):
            again = self.options.full or self.options.reconcile
            if head is None or (state.extra.get("probed") == head and not again):
                return
            found = await self._read_commit(unit, head)
            if found is None:
                return
            state.extra["probed"] = head
            state.extra["found"] = bool(found[0])
            read[head] = found[1]
            now.add(head)
            self._save(state, read, found[2])
            if not found[0]:
                return
        wanted = self._candidates(unit, head)
        todo = sorted(sha for sha in wanted if read.get(sha) != "done")
        todo += sorted(sha for sha, how in read.items() if how == "pending" and sha not in wanted)
        for sha in (s for s in todo if s not in now):
            if read.get(sha) == "pending" and self._stuck(unit, sha):
                read[sha] = "done"
                continue
            found = await self._read_commit(unit, sha)
            if found is not None:
                read[sha] = found[1]
                self._save(state, read, found[2])
        # Forget commits no longer asked about (their rows stay); pending ones stay due.
        state.extra["read"] = {s: h for s, h in read.items() if s in wanted or h == "pending"}
        with self.store.transaction():
            self.store.put_state(state)

    def _save(self, state: SyncState, read: dict[str, str], children: list[ChildRows]) -> None:
        """One commit's reports and annotations, and that it was read, in one transaction."""
        state.extra["read"] = dict(read)
        with self.store.transaction():
            self.write_children(children)
            self.store.put_state(state)

    def _head(self, unit: Unit) -> str | None:
        """The mirrored main branch head of the repository."""
        main = unit.obj.get("mainbranch")
        name = main.get("name") if isinstance(main, dict) else main
        row = self.store.conn.execute(
            "SELECT target_hash FROM branches WHERE repository_id = ? AND name = ?"
            " AND deleted_at IS NULL",
            (unit.scope, name),
        ).fetchone()
        return row[0] if row and row[0] else None

    def _candidates(self, unit: Unit, head: str | None) -> set[str]:
        """The main branch head and the mirrored source commits of open pull requests."""
        rows = self.store.conn.execute(OPEN_SOURCES, (unit.scope,)).fetchall()
        return {r[0] for r in rows} | ({head} if head else set())

    async def _read_commit(self, unit: Unit, sha: str) -> tuple[int, str, list] | None:
        """A commit's reports and each report's annotations: (reports, done|pending, rows);
        None when a list failed (noted; the commit is asked again next run)."""
        ctx = {**unit.ctx, "commit_hash": sha}
        reports = await self.fetch_child(self.streams[STREAM], ctx, commit_key(unit.scope, sha))
        if reports is None:
            return None
        children = [reports]
        rows = reports.rows.get(STREAM, [])
        for row in rows:
            sub = {**ctx, "report_ref": quote(row["uuid"], safe=""), "report_id": row["id"]}
            notes = await self.fetch_child(self.streams["insight_annotations"], sub, row["id"])
            if notes is None:
                return None
            children.append(notes)
        recent = self._recent()
        pending = any(
            r.get("result") == "PENDING" and (r.get("updated_on") or "") >= recent for r in rows
        )
        return len(rows), "pending" if pending else "done", children

    def _recent(self) -> str:
        """The oldest ``updated_on`` of a PENDING report still worth asking about again."""
        return to_utc((self.client.server_date or datetime.now(UTC)) - PENDING_FOR) or ""

    def _stuck(self, unit: Unit, sha: str) -> bool:
        """The commit's mirrored PENDING reports are all over a day old."""
        row = self.store.conn.execute(
            "SELECT max(updated_on) FROM insight_reports WHERE commit_id = ?"
            " AND result = 'PENDING' AND deleted_at IS NULL",
            (commit_key(unit.scope, sha),),
        ).fetchone()
        return not row or not row[0] or row[0] < self._recent()
