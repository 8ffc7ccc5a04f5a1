"""identity's wiring: settings, engine, servicer, server. Run: python -m herald_services.identity.main"""

from __future__ import annotations

from herald.identity.v1 import identity_pb2, identity_pb2_grpc
from herald_common.access import Caller
from herald_common.aio import runner_for
from herald_common.clients import CampaignClient, DeliveryClient, IngestClient
from herald_common.clock import Clock, SystemClock
from herald_common.db import create_service_engine, require_current_schema
from herald_common.grpcserver import Registration, create_server
from herald_common.service import RunningService, run
from herald_common.settings import Settings
from herald_services.identity.rpc import IdentityServicer

SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


async def build(settings: Settings, *, address: str | None = None, clock: Clock | None = None) -> RunningService:
    caller = Caller.internal(settings)
    engine = create_service_engine(settings, "identity")
    require_current_schema(engine, "identity")
    runner = runner_for(engine, "identity-db")
    ingest = IngestClient(settings.ingest_address, settings.rpc_timeout_seconds, caller=caller)
    campaign = CampaignClient(settings.campaign_address, settings.rpc_timeout_seconds, caller=caller)
    delivery = DeliveryClient(settings.delivery_address, settings.rpc_timeout_seconds, caller=caller)
    servicer = IdentityServicer(
        engine=engine,
        runner=runner,
        clock=clock or SystemClock(),
        default_region=settings.default_phone_region,
        ingest=lambda: ingest,
        campaign=lambda: campaign,
        delivery=lambda: delivery,
    )
    registration = Registration(identity_pb2_grpc.add_IdentityServiceServicer_to_server, servicer, SERVICE_NAME)
    server, port, health = create_server(address or settings.identity_address, [registration], settings=settings)
    return RunningService(
        "identity", server, port, health, [SERVICE_NAME], closers=[ingest.close, campaign.close, delivery.close, runner.shutdown, engine.dispose]
    )


def main() -> None:
    run("identity", build)


if __name__ == "__main__":
    main()
