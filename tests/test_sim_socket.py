"""The simulator's sockets send without Nagle's delay (issue 14, "Honest measurement").

Without TCP_NODELAY, uvicorn's separate header and body writes meet the client's delayed ACK
and every keep-alive response waits about 40 ms, which made loopback timings meaningless.
"""

from __future__ import annotations

import socket

import httpx

from bbmirror.simulator.common.serving import RunningApp, listening_socket


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def _report_nodelay(scope: dict, receive, send) -> None:
    """An ASGI app answering with TCP_NODELAY as set on the connection uvicorn accepted."""
    transport = send.__self__.transport
    body = str(_nodelay(transport.get_extra_info("socket"))).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_listening_socket_is_tcp_with_nodelay():
    sock = listening_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only then
        assert _nodelay(sock) != 0
    finally:
        sock.close()


def test_accepted_connections_of_the_running_simulator_have_nodelay():
    with RunningApp(lambda root: _report_nodelay) as app, httpx.Client() as client:
        answers = {client.get(app.root + "/").text for _ in range(3)}  # one kept-alive link
    assert answers == {"1"}
