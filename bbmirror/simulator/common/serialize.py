"""Canonical JSON for a world of either flavour, so "same seed, same world" is a byte comparison.

Dictionaries of the model are written as lists of ``[key, value]`` pairs: ``sort_keys`` would
otherwise reorder them, and their insertion order carries meaning (``repo.commits`` is creation
order). Free-form JSON payloads (``Activity.data``, ``Comment.inline``, ``IssueChange.changes``)
stay objects. Bytes are base64. ``loads`` rebuilds the dataclasses from the type hints of the
world class it is given.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")

FREE_FORM = frozenset({"data", "inline", "changes"})
_HINTS: dict[type, dict[str, Any]] = {}


def _encode(value: Any, free: bool = False) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _encode(getattr(value, f.name), f.name in FREE_FORM)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        if free:
            return {k: _encode(v, True) for k, v in value.items()}
        return [[k, _encode(v)] for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_encode(v, free) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def world_to_dict(world: Any) -> dict:
    """The world as plain JSON-able data (dicts as ``[key, value]`` pairs, bytes as base64)."""
    return _encode(world)


def dumps(world: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8."""
    text = json.dumps(world_to_dict(world), sort_keys=True, separators=(",", ":"))
    return text.encode()


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        kwargs = {
            f.name: _decode(hints[f.name], value[f.name])
            for f in dataclasses.fields(hint)
            if f.name in value
        }
        return hint(**kwargs)
    if hint is bytes:
        return base64.b64decode(value)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_decode(item, v) for v in value]
    if origin is dict:
        key_hint, item = typing.get_args(hint)
        if isinstance(value, dict):
            return {k: _decode(item, v) for k, v in value.items()}
        return {_decode(key_hint, k): _decode(item, v) for k, v in value}
    return value


def loads(data: bytes | str, world_class: type[T]) -> T:
    """Rebuild a world of ``world_class`` (``World``, ``DcWorld``) written by ``dumps``."""
    return _decode(world_class, json.loads(data))
