"""identity and campaign in-process on port 0, with a recording delivery server behind campaign
(a real gRPC server speaking delivery's proto) so each test sees exactly what campaign asks."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from herald.campaign.v1 import campaign_pb2
from herald.delivery.v1 import delivery_pb2, delivery_pb2_grpc
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common.clients import CampaignClient, IdentityClient
from herald_common.grpcserver import Registration, create_server, mark_serving
from herald_common.protoconv import set_timestamp
from herald_common.testing import AuthorizedStub, suite_caller

from tests.integration.conftest import WORKSPACE, free_port, migrate_all

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DELIVERY_SERVICE = delivery_pb2.DESCRIPTOR.services_by_name["DeliveryService"].full_name


class RecordingDelivery(delivery_pb2_grpc.DeliveryServiceServicer):
    """Answers Schedule like delivery would (due = trigger + max(delay, settle)) and records calls."""

    def __init__(self) -> None:
        self.scheduled: dict[str, delivery_pb2.ScheduledSend] = {}
        self.schedule_calls = 0
        self.cancelled: list[str] = []
        self.released: list[str] = []
        self.changed = asyncio.Event()

    async def Schedule(self, request, context):
        self.schedule_calls += 1
        response = delivery_pb2.ScheduleResponse()
        for send in request.sends:
            kept = self.scheduled.setdefault(send.id, send)
            item = response.sends.add()
            item.CopyFrom(kept)
            due = kept.trigger_at.ToDatetime(tzinfo=UTC) + timedelta(seconds=max(kept.delay_seconds, kept.settle_seconds))
            set_timestamp(item.due_at, due)
            item.status = "scheduled"
        self.changed.set()
        return response

    async def Cancel(self, request, context):
        self.cancelled.append(request.send_id)
        self.changed.set()
        return delivery_pb2.CancelResponse(cancelled=1)

    async def CancelSends(self, request, context):
        self.cancelled.extend(request.send_ids)
        self.changed.set()
        return delivery_pb2.CancelResponse(cancelled=len(request.send_ids))

    async def Release(self, request, context):
        self.released.append(request.campaign_id)
        return delivery_pb2.ReleaseResponse(released=0)

    async def wait(self, predicate, timeout: float = 10.0) -> None:
        async def until():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)


@dataclass
class Suite:
    settings: object
    identity: IdentityClient
    campaign: CampaignClient
    delivery: RecordingDelivery
    campaign_service: object
    event_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def stub(self):
        """campaign's stub, each call carrying the token its real caller holds."""
        return AuthorizedStub(self.campaign)

    async def apply(self, text: str, **kwargs) -> campaign_pb2.ApplyCampaignResponse:
        return await self.stub.ApplyCampaign(campaign_pb2.ApplyCampaignRequest(workspace_id=WORKSPACE, source_yaml=text, **kwargs))

    async def apply_example(self, name: str) -> campaign_pb2.ApplyCampaignResponse:
        return await self.apply((EXAMPLES / name).read_text(), file_name=name)

    async def identify(self, user_id: str, **traits) -> str:
        context = {}
        if "device" in traits:
            context["device"] = traits.pop("device")
        call = identity_pb2.IdentifyCall(
            message_id=f"m-{user_id}-{next(self.event_ids)}", user_id=user_id,
            traits_json=orjson.dumps(traits), context_json=orjson.dumps(context),
        )
        set_timestamp(call.timestamp, datetime.now(UTC))
        response = await self.identity.identify(identity_pb2.IdentifyRequest(workspace_id=WORKSPACE, calls=[call]))
        return response.results[0].profile_id

    def event(self, profile_id: str, user_id: str, name: str, at: datetime | None = None, event_id: str | None = None,
              properties: dict | None = None, **more_properties) -> ingest_pb2.Event:
        """`properties` for names that clash with this helper's own (a product's `name`)."""
        at = at or datetime.now(UTC)
        properties = {**(properties or {}), **more_properties}
        event = ingest_pb2.Event(
            id=event_id or str(next(self.event_ids)), workspace_id=WORKSPACE, message_id=f"msg-{next(self.event_ids)}",
            type="track", name=name, profile_id=profile_id, user_id=user_id, properties_json=orjson.dumps(properties),
        )
        set_timestamp(event.timestamp, at)
        set_timestamp(event.received_at, at)
        return event

    async def send_events(self, *events: ingest_pb2.Event) -> None:
        await self.campaign.send_events(campaign_pb2.OnEventsRequest(events=list(events)))

    async def confirm(self, send_id: str) -> campaign_pb2.ConfirmResponse:
        return await self.stub.Confirm(campaign_pb2.ConfirmRequest(send_id=send_id))

    async def mark(self, send_id: str, status: str = "sent", at: datetime | None = None, outcome: str = "") -> None:
        request = campaign_pb2.MarkSentRequest(send_id=send_id, status=status, outcome=outcome)
        set_timestamp(request.sent_at, at or datetime.now(UTC))
        await self.stub.MarkSent(request)

    async def sends(self, **kwargs) -> list[campaign_pb2.SendSummary]:
        response = await self.stub.ListSends(campaign_pb2.ListSendsRequest(workspace_id=WORKSPACE, **kwargs))
        return list(response.sends)

    async def stats(self, name: str) -> campaign_pb2.CampaignStats:
        return await self.stub.GetCampaignStats(campaign_pb2.GetCampaignStatsRequest(workspace_id=WORKSPACE, name=name))


async def start_recording_delivery(address: str = "127.0.0.1:0", *, settings=None):
    """With settings, the stand-in asks for tokens as delivery does (Schedule: the internal one)."""
    receiver = RecordingDelivery()
    server, port, health = create_server(
        address,
        [Registration(delivery_pb2_grpc.add_DeliveryServiceServicer_to_server, receiver, DELIVERY_SERVICE)],
        settings=settings,
    )
    await server.start()
    await mark_serving(health, [DELIVERY_SERVICE])
    return server, port, receiver


@pytest.fixture
async def suite(settings):
    from herald_services.campaign.main import build as build_campaign
    from herald_services.identity.main import build as build_identity

    migrate_all(settings, ("identity", "campaign"))
    delivery_server, delivery_port, delivery = await start_recording_delivery(settings=settings)
    wired = settings.model_copy(update={
        "identity_address": f"127.0.0.1:{free_port()}",
        "campaign_address": f"127.0.0.1:{free_port()}",
        "ingest_address": f"127.0.0.1:{free_port()}",
        "delivery_address": f"127.0.0.1:{delivery_port}",
        "settle_seconds": 60,
    })
    identity_service = await build_identity(wired)
    await identity_service.start()
    campaign_service = await build_campaign(wired)
    await campaign_service.start()
    identity = IdentityClient(wired.identity_address, 10, caller=suite_caller(wired))
    campaign = CampaignClient(wired.campaign_address, 10, caller=suite_caller(wired))
    await identity.ensure_workspace(workspace_id=WORKSPACE, name="Default", write_key="wk_campaign")
    yield Suite(wired, identity, campaign, delivery, campaign_service)
    await identity.close()
    await campaign.close()
    await campaign_service.stop()
    await identity_service.stop()
    await delivery_server.stop(None)
