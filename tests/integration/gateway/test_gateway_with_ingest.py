"""The gateway in front of the real identity and ingest servers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import socket

import httpx
import orjson
import pytest
from herald_common.clients import IdentityClient, IngestClient
from herald_common.db import create_service_engine, migrate
from herald_common.testing import suite_caller
from herald_services.ingest.main import build as build_ingest
from segment.analytics import Client as SegmentClient

from .conftest import WORKSPACE, WRITE_KEY, basic_auth, start_gateway, start_identity


def unused_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
async def suite(settings):
    """identity, ingest and the gateway; campaign is absent, so ingest's outbox just waits."""
    identity_service = await start_identity(settings)
    identity_address = f"127.0.0.1:{identity_service.port}"
    engine = create_service_engine(settings, "ingest")
    migrate(engine, "ingest")
    engine.dispose()
    wired = settings.model_copy(update={"identity_address": identity_address, "campaign_address": unused_address()})
    ingest_service = await build_ingest(wired, address="127.0.0.1:0")
    await ingest_service.start()
    gateway = await start_gateway(wired, ingest_address=f"127.0.0.1:{ingest_service.port}", write_key=WRITE_KEY)
    identity = IdentityClient(identity_address, timeout=10, caller=suite_caller(settings))
    ingest = IngestClient(f"127.0.0.1:{ingest_service.port}", timeout=10, caller=suite_caller(settings))
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        yield http, identity, ingest
    await identity.close()
    await ingest.close()
    await gateway.stop()
    await ingest_service.stop()
    await identity_service.stop()


async def post_batch(http, *events, gzipped: bool = False) -> httpx.Response:
    body = orjson.dumps({"batch": list(events), "sentAt": "2026-01-05T12:00:00Z"})
    headers = {**basic_auth(), "Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return await http.post("/v1/batch", content=body, headers=headers)


async def test_retried_batch_is_recorded_once(suite):
    http, _identity, ingest = suite
    events = [
        {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m-1"},
        {"type": "page", "userId": "u1", "name": "Pricing", "messageId": "m-2"},
    ]
    for _ in range(2):
        response = await post_batch(http, *events, gzipped=True)
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True}
    recorded = await ingest.list_user_events(WORKSPACE, "u1")
    assert sorted(e.name for e in recorded.events) == ["[Segment Page] Pricing", "[Segment] Signed Up"]


async def test_track_sent_before_its_identify_in_one_batch_belongs_to_the_identified_user(suite):
    http, identity, ingest = suite
    response = await post_batch(
        http,
        {"type": "track", "anonymousId": "anon-1", "event": "Viewed Plans", "messageId": "m-10"},
        {"type": "identify", "userId": "u2", "anonymousId": "anon-1", "traits": {"email": "u2@example.com"}},
    )
    assert response.status_code == 200, response.text
    user = await identity.get_user(WORKSPACE, "u2")
    assert orjson.loads(user.attributes_json) == {"email": "u2@example.com"}
    recorded = await ingest.list_user_events(WORKSPACE, "u2")
    assert [e.name for e in recorded.events] == ["[Segment] Viewed Plans"]


async def test_page_without_a_name_is_named_after_its_url(suite):
    http, _identity, ingest = suite
    response = await post_batch(
        http, {"type": "page", "anonymousId": "a-3", "properties": {"url": "https://x.test/pricing"}}
    )
    assert response.status_code == 200, response.text
    recorded = await ingest.list_user_events(WORKSPACE, "a-3")
    assert [e.name for e in recorded.events] == ["[Segment Page] https://x.test/pricing"]


async def test_explicit_timestamp_is_kept_and_received_at_is_the_gateways(suite):
    http, _identity, ingest = suite
    response = await post_batch(
        http,
        {"type": "track", "userId": "u4", "event": "Imported", "timestamp": "2025-06-01T10:00:00Z", "messageId": "m-4"},
    )
    assert response.status_code == 200, response.text
    [event] = (await ingest.list_user_events(WORKSPACE, "u4")).events
    assert event.timestamp.ToJsonString() == "2025-06-01T10:00:00Z"
    assert event.received_at.seconds > event.timestamp.seconds


async def test_segments_own_python_library_with_gzip_is_understood(suite):
    http, identity, ingest = suite
    errors = []
    client = SegmentClient(
        write_key=WRITE_KEY, host=str(http.base_url).rstrip("/"), gzip=True, on_error=lambda e, batch: errors.append(e)
    )
    client.identify("u8", {"name": "Ada Lovelace", "email": "ada@example.com"}, anonymous_id="anon-8")
    client.track("u8", "Signed Up", {"plan": "pro"})
    client.page("u8", name="Pricing", properties={"url": "https://x.test/pricing"})
    client.screen("u8", name="Home")
    client.group("u8", "acme", {"name": "Acme"})
    client.alias("anon-8", "u8")
    await asyncio.to_thread(client.flush)
    await asyncio.to_thread(client.join)
    assert errors == []
    user = await identity.get_user(WORKSPACE, "anon-8")
    assert user.user_id == "u8"
    assert orjson.loads(user.attributes_json) == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
    }
    assert list(user.group_ids) == ["acme"]
    names = sorted(e.name for e in (await ingest.list_user_events(WORKSPACE, "u8")).events)
    assert names == ["[Segment Page] Pricing", "[Segment Screen] Home", "[Segment] Signed Up"]
