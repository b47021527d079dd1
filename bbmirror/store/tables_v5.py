"""Tables added in schema version 5 and later, kept apart so ``tables.py`` stays small.

``tables.TABLES`` includes them; each carries ``since`` like every other declaration.
"""

from __future__ import annotations

from bbmirror.store.declare import Index, Table, _cols

LATER_TABLES: tuple[Table, ...] = (
    # Cloud: the users added as reviewers to every new pull request of a repository.
    Table(
        "default_reviewers",
        _cols("repository_id -> repositories, user_id -> users", since=5),
        (Index(("repository_id", "user_id"), since=5),),
        since=5,
    ),
    # Data Center: the labels applied to a repository (labels apply to repositories only).
    Table(
        "repository_labels",
        _cols("repository_id -> repositories, name", since=6),
        (Index(("repository_id", "name"), since=6),),
        since=6,
    ),
)
