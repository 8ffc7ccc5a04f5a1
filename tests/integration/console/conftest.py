"""The console's app in-process (httpx over ASGI) in front of the four real services, in-process
on free ports over SQLite files: the console owns no data, so its tests need the services' own
storage only as they really are (their RPCs are tested on both databases in their own folders)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from herald_common.settings import Settings

from herald_services.console.app import build_app
from herald_services.console.backend import Backend
from tests.integration.conftest import WORKSPACE, WRITE_KEY, migrate_all
from tests.ports import free_port

ADMIN_TOKEN = "console-test-admin-token"
# The services' own token (what the gateway presents), for helpers that stand in for the gateway.
INTERNAL_TOKEN = "console-test-internal-token"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    client: httpx.AsyncClient
    backend: Backend
    settings: Settings
    sleeps: list[float] = field(default_factory=list)
    running: dict = field(default_factory=dict)

    async def csrf(self, path: str = "/events") -> str:
        page = await self.client.get(path)
        return csrf_of(page.text)

    async def sign_in(self) -> None:
        token = csrf_of((await self.client.get("/login")).text)
        answer = await self.client.post("/login", data={"token": ADMIN_TOKEN, "csrf_token": token})
        assert answer.status_code == 303, answer.text

    async def post(self, path: str, data: dict, **kwargs) -> httpx.Response:
        return await self.client.post(path, data={**data, "csrf_token": await self.csrf()}, **kwargs)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a csrf_token"
    return found.group(1)


async def start_services(settings: Settings, names=("identity", "ingest", "campaign", "delivery")) -> tuple[Settings, dict]:
    import importlib

    migrate_all(settings, services=("identity", "ingest", "campaign", "delivery"))
    wired = settings.model_copy(update={f"{name}_address": f"127.0.0.1:{free_port()}" for name in
                                        ("identity", "ingest", "campaign", "delivery")})
    running = {}
    for name in names:
        build = importlib.import_module(f"herald_services.{name}.main").build
        service = await build(wired)
        await service.start()
        running[name] = service
    return wired, running


@pytest.fixture
async def console(sqlite_settings) -> AsyncIterator[Console]:
    """A signed-out console over the four services (SQLite), the default workspace made."""
    async for made in _console(sqlite_settings):
        yield made


@pytest.fixture
async def console_any_db(settings) -> AsyncIterator[Console]:
    """The same, signed in, once on SQLite and once on PostgreSQL (for the pages whose RPCs
    read indexes of their own)."""
    async for made in _console(settings):
        await made.sign_in()
        yield made


async def _console(settings: Settings) -> AsyncIterator[Console]:
    tokens = {"admin_token": ADMIN_TOKEN, "internal_token": INTERNAL_TOKEN}
    wired, running = await start_services(settings.model_copy(update={"settle_seconds": 0, **tokens}))
    backend = Backend.from_settings(wired)
    await backend.identity.ensure_workspace(workspace_id=WORKSPACE, name="Default", write_key=WRITE_KEY)
    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    app = build_app(backend=backend, admin_token=ADMIN_TOKEN, sleep=no_sleep)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test", follow_redirects=False) as client:
        yield Console(client=client, backend=backend, settings=wired, sleeps=sleeps, running=running)
    await backend.close()
    for service in reversed(list(running.values())):
        await service.stop()


@pytest.fixture
async def signed_in(console) -> Console:
    await console.sign_in()
    return console


async def track(backend: Backend, user_id: str, event: str, properties: dict | None = None, *, kind: str = "track",
                message_id: str | None = None) -> None:
    """A Segment track (page, screen) recorded through ingest, as the gateway hands it over (with
    the gateway's token: the console's admin token does not open Record)."""
    import orjson
    import uuid
    from datetime import UTC, datetime

    from herald.ingest.v1 import ingest_pb2
    from herald_common.access import Caller
    from herald_common.clients import IngestClient
    from herald_common.protoconv import set_timestamp

    incoming = ingest_pb2.IncomingEvent(
        message_id=message_id or uuid.uuid4().hex, type=kind, event=event, user_id=user_id,
        properties_json=orjson.dumps(properties or {}),
    )
    set_timestamp(incoming.received_at, datetime.now(UTC))
    gateway = IngestClient(backend.ingest.address, 10, caller=Caller(internal_token=INTERNAL_TOKEN))
    try:
        response = await gateway.record(ingest_pb2.RecordRequest(workspace_id=WORKSPACE, events=[incoming]))
    finally:
        await gateway.close()
    assert response.results[0].outcome == ingest_pb2.RecordResult.OUTCOME_RECORDED, response


async def identify(backend: Backend, user_id: str, traits: dict, *, anonymous_id: str = "") -> None:
    import orjson
    from herald.identity.v1 import identity_pb2
    from herald_common.access import Caller
    from herald_common.clients import IdentityClient

    call = identity_pb2.IdentifyCall(message_id=f"id-{user_id}-{anonymous_id}", user_id=user_id,
                                     anonymous_id=anonymous_id, traits_json=orjson.dumps(traits))
    gateway = IdentityClient(backend.identity.address, 10, caller=Caller(internal_token=INTERNAL_TOKEN))
    try:
        await gateway.identify(identity_pb2.IdentifyRequest(workspace_id=WORKSPACE, calls=[call]))
    finally:
        await gateway.close()


async def apply_campaign(backend: Backend, text: str):
    from herald.campaign.v1 import campaign_pb2

    request = campaign_pb2.ApplyCampaignRequest(workspace_id=WORKSPACE, source_yaml=text)
    return await backend.campaign.stub.ApplyCampaign(request, metadata=backend.campaign.metadata("ApplyCampaign"))


async def internal_delivery(backend: Backend):
    """delivery as campaign calls it (Schedule, CancelSends are internal calls)."""
    from herald_common.access import Caller
    from herald_common.clients import DeliveryClient

    return DeliveryClient(backend.delivery.address, 10, caller=Caller(internal_token=INTERNAL_TOKEN))
