"""Signatures: ``X-Hub-Signature: sha256=<hex>``, an HMAC-SHA256 of the raw body.

Both Bitbucket Cloud (since 2023) and Data Center sign a delivery with the webhook's secret
this way. The secret of a source comes from the environment only, like its credential:
``{PREFIX}_WEBHOOK_SECRET`` (``BITBUCKET_WEBHOOK_SECRET`` for the default Cloud source,
``BITBUCKET_SERVER_WEBHOOK_SECRET`` for the default Data Center one). A source without a
secret accepts no delivery: an unsigned webhook could be sent by anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from bbmirror.config import DEFAULT_PREFIX, Secret, Source

HEADER = "X-Hub-Signature"


def secret_variable(source: Source) -> str:
    """The environment variable holding a source's webhook secret."""
    prefix = source.credential_prefix
    if source.kind == "server" and prefix == DEFAULT_PREFIX:
        return f"{prefix}_SERVER_WEBHOOK_SECRET"
    return f"{prefix}_WEBHOOK_SECRET"


def secret_for(source: Source) -> Secret | None:
    """The source's webhook secret from the environment, or None (then nothing is accepted)."""
    value = os.environ.get(secret_variable(source))
    return Secret(value) if value else None


def sign(body: bytes, secret: str) -> str:
    """The header value Bitbucket sends for ``body`` (the simulator signs with it too)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verified(body: bytes, header: str | None, secret: Secret | None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``; compared in constant time."""
    if secret is None or not header:
        return False
    algorithm, _, digest = header.strip().partition("=")
    if algorithm.lower() != "sha256" or not digest:
        return False
    expected = hmac.new(secret.reveal().encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())
