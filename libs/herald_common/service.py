"""What every service's main.py shares: start a built server, serve until signalled."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from herald_common.clock import use_pinned_tzdata
from herald_common.grpcserver import mark_serving, serve_until_signalled
from herald_common.logs import configure_logging, get_logger
from herald_common.metrics import serve_metrics
from herald_common.settings import Settings, load_settings

log = get_logger(__name__)


@dataclass
class RunningService:
    name: str
    server: grpc.aio.Server
    port: int
    health: Any
    service_names: list[str]
    closers: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    # Background work that begins once the server answers (e.g. ingest's outbox dispatcher).
    starters: list[Callable[[], None]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> None:
        await self.server.start()
        await mark_serving(self.health, self.service_names)
        for starter in self.starters:
            starter()
        log.info("service_listening", service=self.name, port=self.port)

    async def close(self) -> None:
        for closer in reversed(self.closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result

    async def stop(self, grace: float = 1.0) -> None:
        await self.server.stop(grace)
        await self.close()


PARENT_PID_VARIABLE = "HERALD_PARENT_PID"


def die_with_parent() -> None:
    """Under `herald up` (which sets HERALD_PARENT_PID): ask Linux to SIGTERM this process when
    its parent dies, so a `herald up` killed with SIGKILL leaves no service running."""
    parent = os.environ.get(PARENT_PID_VARIABLE)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run(name: str, build: Callable[[Settings], Awaitable[RunningService]]) -> None:
    """The body of `python -m herald_services.<name>.main`: the gRPC server and its /metrics."""
    settings = load_settings()
    configure_logging(name, settings.log_level)
    use_pinned_tzdata()
    die_with_parent()

    async def serve() -> None:
        # HERALD_BIND_HOST changes where this service listens, not where the others dial it.
        service = await build(settings.listening_as(name))
        metrics = serve_metrics(settings.metrics_address_of(name), service=name)
        try:
            await service.start()
            await serve_until_signalled(service.server, service.health, on_stop=service.close)
        finally:
            if metrics is not None:
                metrics.close()

    import uvloop

    uvloop.run(serve())
