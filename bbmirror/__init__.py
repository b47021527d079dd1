"""bbmirror: an offline, incremental copy of Bitbucket in SQLite, served with Datasette."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bbmirror")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
