"""campaign's wiring: settings, engine, catalogue, servicer, server.

Run: python -m herald_services.campaign.main
"""

from __future__ import annotations

from herald.campaign.v1 import campaign_pb2, campaign_pb2_grpc
from herald_common.access import Caller
from herald_common.aio import runner_for
from herald_common.clients import DeliveryClient, IdentityClient, IngestClient
from herald_common.clock import Clock, SystemClock
from herald_common.db import create_service_engine, require_current_schema
from herald_common.grpcserver import Registration, create_server
from herald_common.service import RunningService, run
from herald_common.settings import Settings
from herald_services.campaign.rpc import CampaignServicer

SERVICE_NAME = campaign_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name


async def build(settings: Settings, *, address: str | None = None, clock: Clock | None = None) -> RunningService:
    caller = Caller.internal(settings)
    engine = create_service_engine(settings, "campaign")
    require_current_schema(engine, "campaign")
    runner = runner_for(engine, "campaign-db")
    identity = IdentityClient(settings.identity_address, settings.rpc_timeout_seconds, caller=caller)
    delivery = DeliveryClient(settings.delivery_address, settings.rpc_timeout_seconds, caller=caller)
    ingest = IngestClient(settings.ingest_address, settings.rpc_timeout_seconds, caller=caller)
    servicer = CampaignServicer(
        engine=engine,
        runner=runner,
        clock=clock or SystemClock(),
        identity=identity,
        delivery=delivery,
        settle_seconds=settings.settle_seconds,
        rpc_timeout=settings.rpc_timeout_seconds,
        explain=settings.explain,
        explain_retention_seconds=settings.explain_retention_seconds,
        ingest=ingest,
        default_timezone=settings.default_timezone,
    )
    servicer.load()
    registration = Registration(campaign_pb2_grpc.add_CampaignServiceServicer_to_server, servicer, SERVICE_NAME)
    server, port, health = create_server(address or settings.campaign_address, [registration], settings=settings)
    return RunningService(
        "campaign",
        server,
        port,
        health,
        [SERVICE_NAME],
        closers=[identity.close, delivery.close, ingest.close, runner.shutdown, engine.dispose, servicer.stop],
        starters=[servicer.start],
        extras={"servicer": servicer},
    )


def main() -> None:
    run("campaign", build)


if __name__ == "__main__":
    main()
