"""delivery's wiring: settings, engine, providers, dispatcher (timer, reports), servicer, server.

Run: python -m herald_services.delivery.main
"""

from __future__ import annotations

from herald.delivery.v1 import delivery_pb2, delivery_pb2_grpc
from herald_common.access import Caller
from herald_common.aio import runner_for
from herald_common.clients import CampaignClient, IdentityClient
from herald_common.clock import Clock, SystemClock
from herald_common.db import create_service_engine, require_current_schema
from herald_common.grpcserver import Registration, create_server
from herald_common.service import RunningService, run
from herald_common.settings import Settings
from herald_services.delivery.dispatcher import Dispatcher
from herald_services.delivery.providers.base import ProviderSet
from herald_services.delivery.rpc import DeliveryServicer

SERVICE_NAME = delivery_pb2.DESCRIPTOR.services_by_name["DeliveryService"].full_name


def build_providers(settings: Settings) -> ProviderSet:
    """The providers CONTRACT.md's variables configure; a channel without one writes to the outbox."""
    try:
        from herald_services.delivery.providers.registry import build_providers as build
    except ImportError:  # the registry is not there yet: every channel goes to the local outbox
        from herald_services.delivery.providers.outbox import OutboxProvider

        return ProviderSet(fallback=OutboxProvider(settings.data_dir))
    return build(settings)


async def build(
    settings: Settings,
    *,
    address: str | None = None,
    clock: Clock | None = None,
    providers: ProviderSet | None = None,
    replica_id: str | None = None,
    concurrency: int = 256,
    poll_seconds: float = 5.0,
) -> RunningService:
    caller = Caller.internal(settings)
    engine = create_service_engine(settings, "delivery")
    require_current_schema(engine, "delivery")
    # One writer thread on SQLite too: a commit's fsync then no longer stalls the SMTP connections.
    runner = runner_for(engine, "delivery-db", sqlite_writer_thread=True)
    clock = clock or SystemClock()
    campaign = CampaignClient(settings.campaign_address, settings.rpc_timeout_seconds, caller=caller)
    identity = IdentityClient(settings.identity_address, settings.rpc_timeout_seconds, caller=caller)
    providers = providers if providers is not None else build_providers(settings)
    dispatcher = Dispatcher(
        engine=engine,
        runner=runner,
        clock=clock,
        settings=settings,
        campaign=campaign,
        identity=identity,
        providers=providers,
        replica_id=replica_id,
        concurrency=concurrency,
        poll_seconds=poll_seconds,
    )
    servicer = DeliveryServicer(engine=engine, runner=runner, clock=clock, settings=settings, dispatcher=dispatcher)
    registration = Registration(delivery_pb2_grpc.add_DeliveryServiceServicer_to_server, servicer, SERVICE_NAME)
    server, port, health = create_server(address or settings.delivery_address, [registration], settings=settings)
    return RunningService(
        "delivery",
        server,
        port,
        health,
        [SERVICE_NAME],
        closers=[identity.close, campaign.close, providers.close, runner.shutdown, engine.dispose, dispatcher.stop],
        starters=[dispatcher.start],
        extras={"dispatcher": dispatcher, "engine": engine},
    )


def main() -> None:
    run("delivery", build)


if __name__ == "__main__":
    main()
