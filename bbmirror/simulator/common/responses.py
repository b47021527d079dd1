"""JSON responses encoded with orjson: a 100-item page of PRs is ~800 KB, and the stdlib
encoder spends ten times longer on it than the rest of the request."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    """Starlette's JSONResponse, byte-compatible output (compact, UTF-8), faster."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
