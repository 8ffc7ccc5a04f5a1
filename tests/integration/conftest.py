"""In-process services on port 0 over a real SQLite file or a real PostgreSQL schema."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.ports import free_port
from herald_common.clients import IdentityClient, IngestClient
from herald_common.db import create_service_engine, migrate
from herald_common.settings import Settings
from herald_common.testing import RecordingCampaign, start_delivery_stand_in, start_recording_campaign, suite_caller

WORKSPACE = "default"
WRITE_KEY = "wk_integration"




def migrate_all(settings: Settings, services=("identity", "ingest")) -> None:
    for service in services:
        engine = create_service_engine(settings, service)
        migrate(engine, service)
        engine.dispose()


@pytest.fixture
def campaign_engine(settings):
    """campaign's database, migrated, for tests of its tables."""
    engine = create_service_engine(settings, "campaign")
    migrate(engine, "campaign")
    yield engine
    engine.dispose()


@dataclass
class Services:
    settings: Settings
    identity: IdentityClient
    ingest: IngestClient
    campaign: RecordingCampaign | None
    identity_service: object
    ingest_service: object


@pytest.fixture
async def services(settings):
    """identity + ingest, with a recording campaign receiver behind ingest's outbox."""
    from herald_services.identity.main import build as build_identity
    from herald_services.ingest.main import build as build_ingest

    migrate_all(settings)
    campaign_server, campaign_port, receiver = await start_recording_campaign(settings=settings)
    delivery_server, delivery_port, _ = await start_delivery_stand_in(settings=settings)
    wired = settings.model_copy(
        update={
            "identity_address": f"127.0.0.1:{free_port()}",
            "ingest_address": f"127.0.0.1:{free_port()}",
            "campaign_address": f"127.0.0.1:{campaign_port}",
            "delivery_address": f"127.0.0.1:{delivery_port}",
        }
    )
    identity_service = await build_identity(wired)
    await identity_service.start()
    ingest_service = await build_ingest(wired)
    await ingest_service.start()
    identity = IdentityClient(wired.identity_address, 10, caller=suite_caller(wired))
    ingest = IngestClient(wired.ingest_address, 10, caller=suite_caller(wired))
    await identity.ensure_workspace(workspace_id=WORKSPACE, name="Default", write_key=WRITE_KEY)
    yield Services(wired, identity, ingest, receiver, identity_service, ingest_service)
    await identity.close()
    await ingest.close()
    await ingest_service.stop()
    await identity_service.stop()
    await campaign_server.stop(None)
    await delivery_server.stop(None)
