"""ingest's wiring: settings, engine, outbox dispatcher, servicer, server.

Run: python -m herald_services.ingest.main
"""

from __future__ import annotations

from herald.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from herald_common.access import Caller
from herald_common.aio import BlockingRunner, runner_for
from herald_common.clients import CampaignClient, IdentityClient
from herald_common.clock import Clock, SystemClock
from herald_common.db import create_service_engine, require_current_schema
from herald_common.grpcserver import Registration, create_server
from herald_common.service import RunningService, run
from herald_common.settings import Settings
from herald_services.ingest.outbox import OutboxDispatcher
from herald_services.ingest.profile_index import ProfileIndexer
from herald_services.ingest.rpc import IngestServicer

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


async def build(settings: Settings, *, address: str | None = None, clock: Clock | None = None) -> RunningService:
    caller = Caller.internal(settings)
    engine = create_service_engine(settings, "ingest")
    require_current_schema(engine, "ingest")
    runner = runner_for(engine, "ingest-db", sqlite_writer_thread=True)
    identity = IdentityClient(settings.identity_address, settings.rpc_timeout_seconds, caller=caller)
    campaign = CampaignClient(settings.campaign_address, settings.rpc_timeout_seconds, caller=caller)
    dispatcher = OutboxDispatcher(engine=engine, runner=runner, campaign=campaign)
    # Its own thread and connection: on SQLite it writes only the attached profile_index file,
    # so its batches run beside recording instead of between recording's commits. One thread
    # on PostgreSQL too: its batches follow one another.
    index_runner = BlockingRunner(1, "ingest-index")
    indexer = ProfileIndexer(engine=engine, runner=index_runner)
    servicer = IngestServicer(
        engine=engine,
        runner=runner,
        clock=clock or SystemClock(),
        identity=identity,
        on_recorded=dispatcher.wake,
        on_committed=dispatcher.committed,
        on_purged=dispatcher.forget,
        purge_lock=indexer.exclusive,
    )
    registration = Registration(ingest_pb2_grpc.add_IngestServiceServicer_to_server, servicer, SERVICE_NAME)
    server, port, health = create_server(address or settings.ingest_address, [registration], settings=settings)
    service = RunningService(
        "ingest",
        server,
        port,
        health,
        [SERVICE_NAME],
        closers=[identity.close, campaign.close, runner.shutdown, index_runner.shutdown, engine.dispose, dispatcher.stop,
                 indexer.stop],
        starters=[dispatcher.start, indexer.start],
        extras={"dispatcher": dispatcher, "indexer": indexer},
    )
    return service


def main() -> None:
    run("ingest", build)


if __name__ == "__main__":
    main()
