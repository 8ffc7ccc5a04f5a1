"""A real identity server, a recording ingest server and the gateway, all on port 0."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import grpc
import httpx
import pytest
from herald.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from herald_common.clients import IdentityClient
from herald_common.db import create_service_engine, migrate
from herald_common.grpcserver import Registration, create_server
from herald_common.logs import REQUEST_ID_HEADER
from herald_common.settings import Settings
from herald_common.testing import suite_caller
from herald_services.gateway.main import Gateway, build
from herald_services.identity.main import build as build_identity

WORKSPACE = "default"
WRITE_KEY = "wk_gateway_test"
INGEST_SERVICE = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


def basic_auth(write_key: str = WRITE_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


class RecordingIngest(ingest_pb2_grpc.IngestServiceServicer):
    """Stands in for ingest: keeps every Record request, answers RECORDED (or REJECTED where told)."""

    def __init__(self) -> None:
        self.requests: list[ingest_pb2.RecordRequest] = []
        self.request_ids: list[str | None] = []
        self.delay = 0.0
        self.reject_event_named: dict[str, str] = {}
        self.on_record: Callable[[ingest_pb2.RecordRequest], object] | None = None
        self.seen: list[object] = []
        self.port = 0
        self.abort_with: tuple[grpc.StatusCode, str] | None = None

    @property
    def events(self) -> list[ingest_pb2.IncomingEvent]:
        return [event for request in self.requests for event in request.events]

    async def Record(self, request, context):
        self.requests.append(request)
        self.request_ids.append(dict(context.invocation_metadata()).get(REQUEST_ID_HEADER))
        if self.on_record is not None:
            self.seen.append(await self.on_record(request))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.abort_with is not None:
            await context.abort(*self.abort_with)
        results = []
        for event in request.events:
            reason = self.reject_event_named.get(event.event)
            if reason:
                results.append(ingest_pb2.RecordResult(outcome=ingest_pb2.RecordResult.OUTCOME_REJECTED, reason=reason))
            else:
                results.append(ingest_pb2.RecordResult(outcome=ingest_pb2.RecordResult.OUTCOME_RECORDED, event_id="e"))
        return ingest_pb2.RecordResponse(results=results)


async def start_identity(settings: Settings, address: str = "127.0.0.1:0"):
    engine = create_service_engine(settings, "identity")
    migrate(engine, "identity")
    engine.dispose()
    service = await build_identity(settings, address=address)
    await service.start()
    return service


@pytest.fixture
async def identity_service(sqlite_settings):
    service = await start_identity(sqlite_settings)
    client = IdentityClient(f"127.0.0.1:{service.port}", timeout=10, caller=suite_caller(sqlite_settings))
    await client.ensure_workspace(workspace_id=WORKSPACE, name="Default", write_key=WRITE_KEY)
    await client.close()
    yield service
    await service.stop()


@pytest.fixture
async def identity(identity_service, sqlite_settings):
    client = IdentityClient(f"127.0.0.1:{identity_service.port}", timeout=10, caller=suite_caller(sqlite_settings))
    yield client
    await client.close()


@pytest.fixture
async def recording_ingest(sqlite_settings):
    """A stand-in ingest that asks for the internal token on Record, as ingest does."""
    recorder = RecordingIngest()
    server, port, _health = create_server(
        "127.0.0.1:0",
        [Registration(ingest_pb2_grpc.add_IngestServiceServicer_to_server, recorder, INGEST_SERVICE)],
        settings=sqlite_settings,
    )
    await server.start()
    recorder.port = port
    yield recorder
    await server.stop(0)


async def start_gateway(settings: Settings, **overrides) -> Gateway:
    gateway = await build(settings.model_copy(update=overrides), host="127.0.0.1", port=0)
    await gateway.start()
    return gateway


@pytest.fixture
async def gateway_factory(sqlite_settings, identity_service, recording_ingest):
    """Starts gateways wired to the test's identity and recording ingest, with settings overrides."""
    started: list[Gateway] = []

    async def factory(**overrides) -> Gateway:
        overrides = {
            "write_key": None,  # whatever HERALD_WRITE_KEY the environment has, these tests use their own
            "identity_address": f"127.0.0.1:{identity_service.port}",
            "ingest_address": f"127.0.0.1:{recording_ingest.port}",
            **overrides,
        }
        gateway = await start_gateway(sqlite_settings, **overrides)
        started.append(gateway)
        return gateway

    yield factory
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def gateway(gateway_factory):
    return await gateway_factory()


@pytest.fixture
async def http(gateway):
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client
