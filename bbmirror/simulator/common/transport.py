"""In-process transport: httpx straight into a simulator app, with drops as real errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from bbmirror.simulator.common.faults import ConnectionDropped


class SimulatorTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` that reports a simulated drop as ``httpx.RemoteProtocolError``."""

    def __init__(self, app: Callable, **kwargs: Any) -> None:
        self.app = app
        self._inner = httpx.ASGITransport(app=app, **kwargs)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()
