"""Pull requests read again after a failure, marked so that a child gate reads them whole.

A flavour that skips a changed PR's child lists it can account for (Cloud's feed and commit
markers, flavours/cloud/pr_children.py; Data Center's diff per source commit,
flavours/server/pr_size.py) cannot tell a PR read again after a failure (``force``) from a plain
change by its row alone: the page's context says it.
"""

from __future__ import annotations

from bbmirror.engine.base import Engine
from bbmirror.engine.streams import Context, Stream

FORCED = "forced"  # context key: the page's pull requests are read again after a failure


class ForcedParents(Engine):
    """Puts ``FORCED`` in a forced page of pull requests' context."""

    async def read_parents(
        self, stream: Stream, ctx: Context, values: list[dict], *, force: bool = False
    ):
        if force and stream.name == "pullrequests":
            ctx = {**ctx, FORCED: "1"}
        return await super().read_parents(stream, ctx, values, force=force)
