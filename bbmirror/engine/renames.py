"""A renamed or moved repository is read again in full (issue 11).

Bitbucket embeds a repository's name and links in every object below it (pull requests,
comments, activity, commits), and a rename moves none of their change markers. The name each
repository had at its last run is kept in a ``repository`` sync state; when it differs, one
transaction records the new name, forgets which children the parent streams cover (so the next
walk reads every parent and every child again, resumably: coverage.py) and forgets the
mirrored commit heads (so the commit walk starts over). A kill after that transaction leaves
the re-read to the next run; a kill before it leaves the old name, so the next run sees the
rename again.
"""

from __future__ import annotations

from bbmirror.store.db import Store, SyncState

STATE = "repository"  # sync_state.stream of the record
PARENTS = ("pullrequests", "issues")  # streams whose children embed the repository
COMMITS = "commits"
FEEDS = ("pr_feed",)  # feeds whose entries embed the repository: read whole again (feed.py)


def check(store: Store, source: str, repository_id: str, full_name: str) -> bool:
    """Record the repository's name; whether it was renamed since the last run (then every
    stream of it is set to be read again)."""
    state = store.get_state(source, repository_id, STATE)
    if state is not None and state.extra.get("full_name") == full_name:
        return False
    # No record yet: a new repository, or a mirror written before records were kept.
    renamed = state is not None
    known = store.get_state(source, repository_id, COMMITS)
    with store.transaction():
        if renamed:
            for name in PARENTS:
                parent = store.get_state(source, repository_id, name)
                if parent is not None:
                    parent.extra["covers"] = []
                    store.put_state(parent)
            for name in FEEDS:
                feed = store.get_state(source, repository_id, name)
                if feed is not None:
                    feed.watermark, feed.resume = None, None
                    store.put_state(feed)
            if known is not None:
                known.heads, known.resume = {}, None
                known.extra.pop("pending", None)
                store.put_state(known)
        record = state or SyncState(source=source, scope=repository_id, stream=STATE)
        record.extra["full_name"] = full_name
        store.put_state(record)
    return renamed
