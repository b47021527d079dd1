"""bbmirror's SQLite store: schema and migrations, API objects to rows, and the Store itself."""

from bbmirror.rows import RowError, RowSet, to_utc
from bbmirror.store.db import Store, SyncState
from bbmirror.store.schema import SCHEMA_VERSION, StoreError, migrate

__all__ = [
    "SCHEMA_VERSION",
    "RowError",
    "RowSet",
    "Store",
    "StoreError",
    "SyncState",
    "migrate",
    "to_utc",
]
