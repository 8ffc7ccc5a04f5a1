"""gateway's wiring: settings, clients, the ASGI app, uvicorn. Run: python -m herald_services.gateway.main

Listens on HERALD_GATEWAY_HOST (or HERALD_BIND_HOST):HERALD_GATEWAY_PORT and serves Prometheus
metrics on HERALD_GATEWAY_METRICS_ADDRESS. When HERALD_WRITE_KEY is set, it first makes
sure identity has the default workspace with that key, waiting (with backoff) until identity
answers, so the first request with that key is never refused. SIGTERM or SIGINT stops it
gracefully: it stops accepting, lets requests in progress finish, then closes its channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

import grpc
import uvicorn
from herald_common.access import Caller
from herald_common.clients import IdentityClient, IngestClient
from herald_common.clock import Clock, SystemClock
from herald_common.logs import configure_logging, get_logger
from herald_common.metrics import instrument_asgi, serve_metrics
from herald_common.service import die_with_parent
from herald_common.settings import Settings, load_settings
from herald_services.gateway.app import GatewayApp
from herald_services.gateway.domain import ENDPOINTS, InflightGate
from herald_services.gateway.forwarder import Forwarder, WorkspaceDirectory, identity_lookup
from uvicorn.lifespan.off import LifespanOff

log = get_logger(__name__)

DEFAULT_WORKSPACE_ID = "default"
DEFAULT_WORKSPACE_NAME = "Default"
GRACE_SECONDS = 10
_WAITING_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class Gateway:
    """A built gateway: `await start()` listens (port 0 picks one), `await stop()` shuts it down."""

    def __init__(
        self,
        *,
        settings: Settings,
        app: GatewayApp,
        config: uvicorn.Config,
        identity: IdentityClient,
        ingest: IngestClient,
    ) -> None:
        self.settings = settings
        self.app = app
        self.config = config
        self.server = uvicorn.Server(config)
        self.identity = identity
        self.ingest = ingest
        self.port: int | None = None
        self._ticker: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        if self.settings.write_key:
            await ensure_default_workspace(self.identity, self.settings.write_key)
        self.config.load()
        # Driving uvicorn's startup/shutdown ourselves (not Server.serve) leaves signal handling
        # to the caller, so tests and main() each decide how the gateway stops.
        self.server.lifespan = LifespanOff(self.config)
        await self.server.startup(sockets=[self._shared_socket()] if self.settings.gateway_reuse_port else None)
        if not self.server.started:
            raise RuntimeError(f"gateway cannot listen on {self.config.host}:{self.config.port}")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self.server.main_loop(), name="gateway-ticker")
        log.info("gateway_listening", host=self.config.host, port=self.port)

    def _shared_socket(self) -> socket.socket:
        """Several gateway replicas on one port (herald up --replicas): the kernel spreads connections."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.config.host, self.config.port))
        sock.set_inheritable(True)
        return sock

    async def stop(self) -> None:
        if self._ticker is not None:
            self.server.should_exit = True
            await self._ticker
            self._ticker = None
            await self.server.shutdown()
        await self.identity.close()
        await self.ingest.close()
        forwarder = self.app.forwarder
        log.info(
            "gateway_stopped",
            identify_calls=forwarder.identify.calls_sent,
            record_calls=forwarder.record.calls_sent,
            requests=self.server.server_state.total_requests,
        )


async def build(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    clock: Clock | None = None,
) -> Gateway:
    caller = Caller.internal(settings)
    identity = IdentityClient(settings.identity_address, settings.rpc_timeout_seconds, caller=caller)
    ingest = IngestClient(settings.ingest_address, settings.rpc_timeout_seconds, caller=caller)
    app = GatewayApp(
        directory=WorkspaceDirectory(identity_lookup(identity)),
        forwarder=Forwarder(identity=identity, ingest=ingest, gate=InflightGate(settings.gateway_max_inflight_events)),
        clock=clock or SystemClock(),
    )
    config = uvicorn.Config(
        instrument_asgi(app, ENDPOINTS),
        host=host or settings.gateway_host,
        port=settings.gateway_port if port is None else port,
        http="httptools",
        loop="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    return Gateway(settings=settings, app=app, config=config, identity=identity, ingest=ingest)


async def ensure_default_workspace(
    identity: IdentityClient, write_key: str, *, first_delay: float = 0.2, max_delay: float = 5.0
) -> None:
    """EnsureWorkspace(default, write_key), retried with backoff while identity is not answering."""
    delay = first_delay
    while True:
        try:
            await identity.ensure_workspace(
                workspace_id=DEFAULT_WORKSPACE_ID, name=DEFAULT_WORKSPACE_NAME, write_key=write_key
            )
            log.info("default_workspace_ready", workspace_id=DEFAULT_WORKSPACE_ID)
            return
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.ALREADY_EXISTS:
                # The key already maps to a workspace, so requests with it are served anyway.
                log.warning("default_workspace_not_ensured", reason=error.details())
                return
            if error.code() not in _WAITING_CODES:
                raise
            log.info("waiting_for_identity", address=identity.address, retry_in_seconds=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def serve(settings: Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    gateway = await build(settings, host=settings.bind_host or None)
    metrics = serve_metrics(settings.metrics_address_of("gateway"), service="gateway")
    try:
        # A signal while it still waits for identity stops it too.
        starting = asyncio.create_task(gateway.start())
        stop_requested = asyncio.create_task(stopping.wait())
        await asyncio.wait({starting, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            await stop_requested
            log.info("gateway_stopping", grace_seconds=GRACE_SECONDS)
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    finally:
        await gateway.stop()
        if metrics is not None:
            metrics.close()


def main() -> None:
    settings = load_settings()
    configure_logging("gateway", settings.log_level)
    die_with_parent()
    # uvicorn's own lines are plain text; keep only its warnings next to herald's JSON logs.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
