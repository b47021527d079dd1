"""Small readers the walkers share: a page's values, an object's cursor, the overlap start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bbmirror.http import BadPayload


def page_values(body: dict, path: str) -> list[dict]:
    values = body.get("values")
    if not isinstance(values, list):
        raise BadPayload(f"expected a page with 'values' from {path}")
    return values  # non-object entries are quarantined by Engine.to_rows, never dropped


def cursor_of(obj: dict, field_name: str) -> str | None:
    value = obj.get(field_name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def before_watermark(stamp: str | None, delta: timedelta) -> str | None:
    """A watermark minus the overlap, in a form BBQL reads (ISO-8601 with offset); None for
    none or one that does not parse (then the stream is read from its start)."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp) - delta
    except (ValueError, OverflowError):
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
