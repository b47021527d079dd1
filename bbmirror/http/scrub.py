"""The one credential scrubber: every message and stored payload goes through `scrub`.

Two layers, so a leak needs both to fail:

* shapes that are credentials whoever sent them: ``user:password@`` in a URL, an
  ``Authorization`` header echoed back, ``Bearer <token>``, ``Basic <base64 user:pass>``;
* the exact secrets this process holds (and the forms derived from them: the Basic pair,
  its base64, URL-encoded), registered by the HTTP client with `remember_credentials`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

MASK = "***"
MIN_SECRET = 6  # shorter values would mask ordinary words; real tokens are far longer
_SECRET_WORDS = ("token", "password", "passwd", "secret", "credential", "authorization", "auth")
_ENV_WORDS = ("TOKEN", "PASSWORD", "SECRET")

_known: set[str] = set()

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#\"']+@")
_AUTH_HEADER = re.compile(r"(?i)(\bauthorization\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\"'\\\r\n,}\]]+")
_BEARER = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]{6,}")
_BASIC = re.compile(r"\b(Basic)\s+([A-Za-z0-9+/]{4,}={0,2})")


class HasSecrets(Protocol):
    """What `remember_credentials` needs of `config.Credentials`."""

    email: str | None
    username: str | None

    def secrets(self) -> list[str]: ...


def remember(*secrets: str | None) -> None:
    """Add raw secret values (and their URL-encoded form) to what `scrub` masks."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET:
            _known.add(secret)
            _known.add(quote(secret, safe=""))


def remember_credentials(credentials: HasSecrets) -> None:
    """Register a credential's secrets, its Basic pair and the pair's base64."""
    user = credentials.email or credentials.username
    for secret in credentials.secrets():
        remember(secret)
        if user:
            pair = f"{user}:{secret}"
            remember(pair, base64.b64encode(pair.encode()).decode())


def env_secrets() -> list[str]:
    """Values of *TOKEN*/*PASSWORD*/*SECRET* environment variables (the CLI's last line)."""
    return [
        value
        for name, value in os.environ.items()
        if value and len(value) >= MIN_SECRET and any(word in name for word in _ENV_WORDS)
    ]


def _basic(match: re.Match) -> str:
    """Mask ``Basic x`` only when x decodes to a ``user:secret`` pair (not "Basic auth")."""
    try:
        decoded = base64.b64decode(match.group(2), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return match.group(0)
    return f"{match.group(1)} {MASK}" if ":" in decoded else match.group(0)


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """The text with every credential form masked."""
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    text = _BASIC.sub(_basic, text)
    secrets = _known | {s for s in extra if s and len(s) >= MIN_SECRET}
    for secret in sorted(secrets, key=len, reverse=True):  # the pair before its parts
        text = text.replace(secret, MASK)
    return text


def is_secret_key(key: str) -> bool:
    """Keys like token, api_token, password, auth (but not author)."""
    lowered = key.lower().replace("-", "_")
    return any(lowered.endswith(word) or f"{word}_" in lowered for word in _SECRET_WORDS)


def scrub_value(value: Any) -> Any:
    """A JSON-like value with credential-named keys redacted and every string scrubbed."""
    if isinstance(value, Mapping):
        return {
            k: ("[redacted]" if is_secret_key(str(k)) else scrub_value(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value
