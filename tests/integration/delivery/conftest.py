"""delivery as a real gRPC server on port 0, over a real SQLite file or PostgreSQL schema, beside a
scripted campaign (a real gRPC CampaignService) and a fake identity that records RemoveDevice.

Time is a FakeClock: a test moves it and asks the dispatcher to drain what is due, so nothing
waits on the wall clock. Providers are recording fakes (or the local outbox) injected in build.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from herald.delivery.v1 import delivery_pb2
from herald.identity.v1 import identity_pb2, identity_pb2_grpc
from herald_common.clients import DeliveryClient
from herald_common.clock import FakeClock
from herald_common.db import create_service_engine, migrate
from herald_common.grpcserver import Registration, create_server, mark_serving
from herald_common.protoconv import timestamp
from herald_common.testing import ScriptedCampaign, start_scripted_campaign
from herald_common.testing import suite_caller
from herald_services.delivery.main import build as build_delivery
from herald_services.delivery.providers.base import Address, Attempt, Message, ProviderSet

# A monday, 10:00 UTC: 11:00 in Berlin, 05:00 in New York.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WORKSPACE = "default"


class RecordingProvider:
    """Accepts everything unless scripted: ``script[address value]`` is a list of Attempts answered
    in turn (the last one repeats). ``gate``: addresses whose call waits until it is opened."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (send_id, kind, value)
        self.script: dict[str, list[Attempt]] = {}
        self.gated: set[str] = set()
        self.gate = asyncio.Event()
        self.reached_gate = asyncio.Event()

    async def send(self, message: Message, address: Address) -> Attempt:
        self.calls.append((message.send_id, address.kind, address.value))
        if address.value in self.gated:
            self.reached_gate.set()
            await self.gate.wait()
        answers = self.script.get(address.value)
        if answers:
            return answers.pop(0) if len(answers) > 1 else answers[0]
        return Attempt("accepted", f"accepted-{len(self.calls)}")

    async def close(self) -> None:
        return None

    def sends(self) -> list[str]:
        return [send_id for send_id, _, _ in self.calls]


class FakeIdentity(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self) -> None:
        self.removed: list[tuple[str, str, str]] = []

    async def RemoveDevice(self, request, context):
        self.removed.append((request.workspace_id, request.kind, request.token))
        return identity_pb2.RemoveDeviceResponse(removed=True)


@dataclass
class Delivery:
    """A running delivery and what surrounds it."""

    settings: object
    clock: FakeClock
    client: DeliveryClient
    campaign: ScriptedCampaign
    identity: FakeIdentity
    provider: RecordingProvider
    service: object
    stopped: list = field(default_factory=list)

    @property
    def dispatcher(self):
        return self.service.extras["dispatcher"]

    @property
    def engine(self):
        return self.service.extras["engine"]

    async def drain(self) -> None:
        """Dispatches every send due at the clock's time, and waits until each is done."""
        await self.dispatcher.drain(wait=True)

    async def advance(self, **delta) -> None:
        self.clock.advance(timedelta(**delta))
        await self.drain()

    async def schedule(self, *sends: delivery_pb2.ScheduledSend) -> list[delivery_pb2.ScheduledSend]:
        return list((await self.client.schedule(list(sends))).sends)

    async def restart(self, *, provider: RecordingProvider | None = None, crash: bool = False, **kwargs) -> None:
        """Stops delivery (cleanly, or as a crash would) and starts it again on the same data."""
        if crash:
            await self.dispatcher.kill()
            await self.service.server.stop(None)
            self.service.closers = [c for c in self.service.closers if c != self.dispatcher.stop]
            await self.service.close()
        else:
            await self.service.stop()
        await self.client.close()
        if provider is not None:
            self.provider = provider
        self.service = await start_delivery(self.settings, self.clock, self.provider, **kwargs)
        self.client = DeliveryClient(f"127.0.0.1:{self.service.port}", 10, caller=suite_caller(self.settings))


def send(send_id: str, *, campaign_id: str = "c1", profile_id: str = "", channel: str = "email", trigger_at=None,
         delay: int = 0, settle: int = 0, window=None, fallback: str = "", timezone: str = "") -> delivery_pb2.ScheduledSend:
    message = delivery_pb2.ScheduledSend(
        id=send_id, workspace_id=WORKSPACE, campaign_id=campaign_id, profile_id=profile_id or f"p-{send_id}",
        user_id=f"u-{send_id}", channel=channel, trigger_at=timestamp(trigger_at or START), delay_seconds=delay,
        settle_seconds=settle, timezone=timezone,
    )
    if window is not None or fallback:
        days, start, end = window or ((), "", "")
        message.window.CopyFrom(delivery_pb2.DeliveryWindow(days=list(days), start=start, end=end, fallback_timezone=fallback))
    return message


async def start_delivery(settings, clock, provider, *, replica_id: str = "replica-1", concurrency: int = 32):
    service = await build_delivery(
        settings, address="127.0.0.1:0", clock=clock, providers=ProviderSet(fallback=provider),
        replica_id=replica_id, concurrency=concurrency, poll_seconds=3600,
    )
    await service.start()
    return service


async def start_identity(settings=None):
    """A stand-in identity; with settings it asks for tokens as identity does (RemoveDevice: internal)."""
    identity = FakeIdentity()
    name = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
    server, port, health = create_server(
        "127.0.0.1:0",
        [Registration(identity_pb2_grpc.add_IdentityServiceServicer_to_server, identity, name)],
        settings=settings,
    )
    await server.start()
    await mark_serving(health, [name])
    return server, port, identity


def migrate_delivery(settings) -> None:
    engine = create_service_engine(settings, "delivery")
    migrate(engine, "delivery")
    engine.dispose()


@pytest.fixture
async def delivery(settings):
    migrate_delivery(settings)
    campaign_server, campaign_port, campaign = await start_scripted_campaign(settings=settings)
    identity_server, identity_port, identity = await start_identity(settings)
    wired = settings.model_copy(
        update={
            "campaign_address": f"127.0.0.1:{campaign_port}",
            "identity_address": f"127.0.0.1:{identity_port}",
            "release_per_second": 2.0,
            "provider_max_attempts": 3,
        }
    )
    clock = FakeClock(START)
    provider = RecordingProvider()
    service = await start_delivery(wired, clock, provider)
    client = DeliveryClient(f"127.0.0.1:{service.port}", 10, caller=suite_caller(wired))
    running = Delivery(wired, clock, client, campaign, identity, provider, service)
    yield running
    await running.client.close()
    await running.service.stop()
    await campaign_server.stop(None)
    await identity_server.stop(None)
