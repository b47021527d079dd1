"""Serving any simulator app: blocking on a socket, or on a loopback port in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import uvicorn

STARTUP_TIMEOUT = 15.0


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound TCP socket whose connections send without Nagle's delay.

    Made with ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on every accepted
    connection (it skips sockets whose ``proto`` is 0); set on the listener too, which Linux
    passes on. Without it uvicorn's separate header and body writes meet the client's delayed
    ACK and every keep-alive response waits about 40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _uvicorn_config(app: Any, **kwargs: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **kwargs)


def serve(
    app: Any, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None
) -> None:
    """Serve ``app`` until interrupted; ``sock`` (from ``listening_socket``) wins over host:port."""
    if sock is None:
        sock = listening_socket(host, port)
    server = uvicorn.Server(_uvicorn_config(app))
    server.run(sockets=[sock])


class RunningApp:
    """Any simulator app on a free loopback port in a background thread, as a context manager.

    ``make_app(root)`` builds the ASGI app once the port is known (``root`` is
    ``http://127.0.0.1:PORT``); ``base_url`` is ``root + path``. The Server/DC simulator runs
    this way (``RunningApp(lambda root: create_dc_app(world, DcConfig(base_url=root)))``).
    """

    def __init__(self, make_app: Callable[[str], Any], path: str = "") -> None:
        self._make_app = make_app
        self._path = path
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.root = ""
        self.base_url = ""
        self.app: Any = None

    def __enter__(self) -> Self:
        sock = listening_socket()
        port = sock.getsockname()[1]
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = self.root + self._path
        self.app = self._make_app(self.root)
        self._socket = sock
        self._server = uvicorn.Server(_uvicorn_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="bb-simulator"
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    @property
    def request_log(self) -> list[Any]:
        return self.app.state.request_log

    @property
    def lock(self) -> threading.RLock:
        return self.app.state.lock

    @property
    def faults(self) -> Any:
        return self.app.state.faults
