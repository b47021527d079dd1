"""Serving the simulated Bitbucket Cloud: blocking (CLI), in a thread (tests, demo, bench),
or in-process through httpx (fast tests)."""

from __future__ import annotations

import socket
from dataclasses import replace
from typing import Any

import httpx

from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import IN_PROCESS_BASE, SimulatorConfig
from bbmirror.simulator.cloud.world import World
from bbmirror.simulator.common.app import RequestRecord
from bbmirror.simulator.common.serving import RunningApp, serve
from bbmirror.simulator.common.transport import SimulatorTransport


def run(
    world: World,
    config: SimulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM). Prints nothing itself.

    ``sock`` is an already bound socket (so a caller can learn a free port first, then print
    the URL; make it with ``listening_socket``); ``host`` and ``port`` are ignored when it is
    given.
    """
    serve(create_app(world, config), host, port, sock)


class RunningSimulator(RunningApp):
    """The Cloud simulator on a free loopback port in a background thread, as a context manager.

    ``base_url`` is ``http://127.0.0.1:PORT/2.0``; the world can be mutated from the test
    thread while holding ``lock``.
    """

    def __init__(self, world: World, config: SimulatorConfig | None = None) -> None:
        self.world = world
        self._config = config or SimulatorConfig()
        super().__init__(self._build, "/2.0")

    def _build(self, root: str) -> Any:
        config = self._config
        if config.base_url is None:
            config = replace(config, base_url=root + "/2.0")
        return create_app(self.world, config)

    @property
    def request_log(self) -> list[RequestRecord]:
        return self.app.state.request_log


def in_process_client(
    world: World, config: SimulatorConfig | None = None, **httpx_kwargs: Any
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` talking to a fresh in-process simulator (no sockets).

    The app is reachable as ``client.simulator_app`` (request log, faults, lock).
    """
    if config is None:
        config = SimulatorConfig(base_url=IN_PROCESS_BASE)
    app = create_app(world, config)
    httpx_kwargs.setdefault("base_url", IN_PROCESS_BASE)
    client = httpx.AsyncClient(transport=SimulatorTransport(app), **httpx_kwargs)
    client.simulator_app = app  # type: ignore[attr-defined]
    return client
