"""The one HTTP client package: the client, its errors, paging, pacing and scrubbing."""

from bbmirror.http.client import *  # noqa: F403
from bbmirror.http.client import __all__  # noqa: F401
