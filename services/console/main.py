"""The console's wiring: settings, the admin token, clients, the app, uvicorn.

Run: python -m herald_services.console.main. Listens on HERALD_CONSOLE_HOST (or
HERALD_BIND_HOST):HERALD_CONSOLE_PORT; GET /health answers 200 once it listens (herald up and
Kubernetes probe it). SIGTERM or SIGINT stops it gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn
from herald_common import access
from herald_common.logs import configure_logging, get_logger
from herald_common.service import die_with_parent
from herald_common.settings import Settings, load_settings
from uvicorn.lifespan.off import LifespanOff

from herald_services.console.app import build_app
from herald_services.console.backend import Backend

log = get_logger(__name__)

GRACE_SECONDS = 5


class Console:
    """A built console: `await start()` listens (port 0 picks one), `await stop()` shuts it down."""

    def __init__(self, *, settings: Settings, backend: Backend, config: uvicorn.Config) -> None:
        self.settings = settings
        self.backend = backend
        self.config = config
        self.server = uvicorn.Server(config)
        self.port: int | None = None
        self._ticker: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        self.config.load()
        self.server.lifespan = LifespanOff(self.config)
        await self.server.startup()
        if not self.server.started:
            raise RuntimeError(f"console cannot listen on {self.config.host}:{self.config.port}")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self.server.main_loop(), name="console-ticker")
        log.info("console_listening", host=self.config.host, port=self.port)

    async def stop(self) -> None:
        if self._ticker is not None:
            self.server.should_exit = True
            await self._ticker
            self._ticker = None
            await self.server.shutdown()
        await self.backend.close()


def build(settings: Settings, *, host: str | None = None, port: int | None = None, backend: Backend | None = None,
          admin_token: str | None = None) -> Console:
    backend = backend or Backend.from_settings(settings)
    token = admin_token or access.admin_token(settings)[0]
    app = build_app(backend=backend, admin_token=token, secure_cookie=settings.console_secure_cookie)
    config = uvicorn.Config(
        app,
        host=host or settings.console_host,
        port=settings.console_port if port is None else port,
        http="httptools",
        loop="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    return Console(settings=settings, backend=backend, config=config)


async def serve(settings: Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    console = build(settings, host=settings.bind_host or None)
    try:
        await console.start()
        await stopping.wait()
        log.info("console_stopping", grace_seconds=GRACE_SECONDS)
    finally:
        await console.stop()


def main() -> None:
    settings = load_settings()
    configure_logging("console", settings.log_level)
    die_with_parent()
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    import uvloop

    uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
