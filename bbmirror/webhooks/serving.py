"""Putting the receiver on the air: beside Datasette (``serve --webhooks``) or on its own
address next to the scheduler (``schedule --webhooks``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from bbmirror.config import ConfigError, Source
from bbmirror.engine.outcome import Options
from bbmirror.webhooks.receive import PREFIX, create_app
from bbmirror.webhooks.verify import secret_for, secret_variable
from bbmirror.webhooks.worker import Hub

log = logging.getLogger("bbmirror.webhooks")


def make_hub(db: str, sources: list[Source], options: Options | None = None, **kw: Any) -> Hub:
    """A hub for ``sources``; a ConfigError when none of them has a webhook secret."""
    secrets = {s.name: secret_for(s) for s in sources}
    if not any(secrets.values()):
        names = ", ".join(secret_variable(s) for s in sources)
        raise ConfigError(f"--webhooks needs a webhook secret: set {names}")
    path = str(Path(db).expanduser().absolute())
    return Hub(path, sources, secrets=secrets, options=options, **kw)


def urls(base: str, hub: Hub) -> Iterator[str]:
    """Where each source's webhooks go (a source without a secret accepts none)."""
    for name, secret in hub.secrets.items():
        if secret is not None:
            yield f"{base.rstrip('/')}{PREFIX}{name}"


@contextlib.asynccontextmanager
async def serving(hub: Hub | None, host: str, port: int) -> AsyncIterator[str | None]:
    """Serve the receiver on host:port while the block runs (nothing when ``hub`` is None)."""
    if hub is None:
        yield None
        return
    import asyncio

    import uvicorn

    from bbmirror.serve import bind

    sock = bind(host, port)
    config = uvicorn.Config(create_app(hub), log_level="warning", access_log=False)
    server = _Embedded(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{sock.getsockname()[1]}"
    for url in urls(base, hub):
        log.info("webhooks: listening at %s", url)
    try:
        yield base
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task


class _Embedded:
    """uvicorn's Server without its own signal handling (the scheduler handles signals)."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

            def install_signal_handlers(self) -> None:  # uvicorn < 0.29
                return

        return Server(config)


def address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT``) → (host, port); a ConfigError when it is neither."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--webhooks {text!r}: give HOST:PORT, e.g. 127.0.0.1:8002")
    return host, int(port)
