"""The engine: declarations, the runner, shared walkers and sync state; flavours plug in."""

from bbmirror.engine.base import UNCONVERTIBLE, Engine
from bbmirror.engine.outcome import Options, Summary, SyncError
from bbmirror.engine.runs import client_for, run_logged, sync_sources

__all__ = ["UNCONVERTIBLE", "Engine", "Options", "Summary", "SyncError", "client_for",
           "run_logged", "sync_sources"]  # fmt: skip
