"""ingest as a real gRPC server beside a real identity and a recording campaign receiver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import orjson
import pytest
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2 as pb
from herald_common.clients import IngestClient
from herald_common.protoconv import timestamp
from herald_common.testing import start_recording_campaign
from herald_common.testing import suite_caller
from herald_services.ingest.main import build as build_ingest

from tests.integration.conftest import WORKSPACE, free_port, migrate_all

Outcome = pb.RecordResult.Outcome
RECEIVED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def track(message_id, event="Signed Up", user_id="u1", anonymous_id="", properties=None, **times):
    return pb.IncomingEvent(
        message_id=message_id,
        type="track",
        event=event,
        user_id=user_id,
        anonymous_id=anonymous_id,
        properties_json=orjson.dumps(properties or {}),
        context_json=b"{}",
        received_at=timestamp(times.pop("received_at", RECEIVED)),
        **times,
    )


async def record(services, *events):
    return await services.ingest.record(pb.RecordRequest(workspace_id=WORKSPACE, events=list(events)))


async def test_retried_batch_records_nothing_twice(services):
    first = await record(services, track("m1"), track("m2"), track("m1"))
    assert [r.outcome for r in first.results] == [Outcome.OUTCOME_RECORDED, Outcome.OUTCOME_RECORDED, Outcome.OUTCOME_DUPLICATE]
    again = await record(services, track("m1"), track("m2"))
    assert [r.outcome for r in again.results] == [Outcome.OUTCOME_DUPLICATE] * 2
    await services.campaign.wait_for(2)
    await asyncio.sleep(0.2)
    assert services.campaign.received == 2
    [definition] = (await services.ingest.list_events(WORKSPACE, False)).events
    assert (definition.name, definition.times_seen) == ("[Segment] Signed Up", 2)


async def test_events_are_named_and_timed_segments_way(services):
    response = await record(
        services,
        track("t1", event="Added item to cart", sent_at="2026-11-27T10:00:10Z", original_timestamp="2026-11-27T10:00:00Z"),
        pb.IncomingEvent(message_id="p1", type="page", anonymous_id="a1", properties_json=b'{"url": "https://x.test/pricing"}',
                         received_at=timestamp(RECEIVED)),
        pb.IncomingEvent(message_id="s1", type="screen", event="Home", user_id="u1", timestamp="2026-01-01T00:00:00+01:00",
                         received_at=timestamp(RECEIVED)),
        pb.IncomingEvent(message_id="p2", type="page", event="undefined", user_id="u1", received_at=timestamp(RECEIVED)),
        track("t2", event=""),
    )
    outcomes = [r.outcome for r in response.results]
    assert outcomes[:3] == [Outcome.OUTCOME_RECORDED] * 3
    assert outcomes[3:] == [Outcome.OUTCOME_REJECTED] * 2
    assert "name" in response.results[3].reason and "event" in response.results[4].reason
    await services.campaign.wait_for(3)
    by_message = {e.message_id: e for e in services.campaign.events}
    assert by_message["t1"].name == "[Segment] Added item to cart"
    assert by_message["t1"].timestamp.ToDatetime(UTC) == RECEIVED - timedelta(seconds=10)
    assert by_message["p1"].name == "[Segment Page] https://x.test/pricing"
    assert by_message["s1"].name == "[Segment Screen] Home"
    assert by_message["s1"].timestamp.ToDatetime(UTC) == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)


async def test_an_event_with_an_unreadable_timestamp_is_kept_at_its_received_time_with_a_warning(services):
    response = await record(services, track("bad-time", timestamp="not a time"))
    [result] = response.results
    assert result.outcome == Outcome.OUTCOME_RECORDED
    assert result.warning_field == "timestamp" and "not an ISO 8601 time" in result.warning
    await services.campaign.wait_for(1)
    assert services.campaign.events[0].timestamp.ToDatetime(UTC) == RECEIVED


async def test_catalogue_counts_definitions_and_hides(services):
    await record(
        services,
        track("a", event="Purchase made", properties={"cart_id": 1, "price": 5}),
        track("b", event="Purchase made", properties={"price": 7, "cart_id": 2}),
        track("c", event="Purchase made", properties={"cart_id": 3}),
    )
    await services.ingest.define_event(WORKSPACE, "[Segment] Refunded")
    listed = {e.name: e for e in (await services.ingest.list_events(WORKSPACE, False)).events}
    purchase = listed["[Segment] Purchase made"]
    assert (purchase.times_seen, purchase.definitions, purchase.times_seen_last_24h) == (3, 2, 0)
    assert purchase.seen_in_last_24h is False
    assert listed["[Segment] Refunded"].times_seen == 0 and listed["[Segment] Refunded"].defined_by_hand
    shown = await services.ingest.get_event_definition(WORKSPACE, "[Segment] Purchase made")
    assert [(list(s.properties), s.count) for s in shown.property_sets] == [(["cart_id", "price"], 2), (["cart_id"], 1)]
    await services.ingest.hide_event(WORKSPACE, "[Segment] Purchase made")
    assert "[Segment] Purchase made" not in {e.name for e in (await services.ingest.list_events(WORKSPACE, False)).events}
    hidden = {e.name: e for e in (await services.ingest.list_events(WORKSPACE, True)).events}
    assert hidden["[Segment] Purchase made"].hidden
    await services.ingest.hide_event(WORKSPACE, "[Segment] Purchase made", hidden=False)
    assert "[Segment] Purchase made" in {e.name for e in (await services.ingest.list_events(WORKSPACE, False)).events}


async def test_hiding_an_unknown_event_is_not_found(services):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await services.ingest.hide_event(WORKSPACE, "[Segment] Never")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_anonymous_events_stay_reachable_after_merge_and_go_with_deletion(services):
    await record(services, track("x1", user_id="", anonymous_id="anon-9", event="Viewed"))
    await record(services, track("x2", user_id="u9", event="Signed Up"))
    await services.identity.identify(
        identity_pb2.IdentifyRequest(workspace_id=WORKSPACE, calls=[identity_pb2.IdentifyCall(user_id="u9", anonymous_id="anon-9")])
    )
    events = (await services.ingest.list_user_events(WORKSPACE, "u9")).events
    assert sorted(e.message_id for e in events) == ["x1", "x2"]
    deleted = await services.identity.delete_user(WORKSPACE, "u9")
    assert deleted.events_deleted == 2
    assert services.campaign.forgotten == [list(deleted.profile_ids)]  # its decision steps go too
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await services.identity.get_user(WORKSPACE, "anon-9")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_events_wait_while_campaign_is_down_and_arrive_in_order_once(settings):
    from herald_services.identity.main import build as build_identity

    migrate_all(settings)
    identity_service = await build_identity(settings, address="127.0.0.1:0")
    await identity_service.start()
    campaign_port = free_port()
    wired = settings.model_copy(
        update={"identity_address": f"127.0.0.1:{identity_service.port}", "campaign_address": f"127.0.0.1:{campaign_port}"}
    )
    from herald_common.clients import IdentityClient

    identity = IdentityClient(wired.identity_address, 10, caller=suite_caller(wired))
    await identity.ensure_workspace(workspace_id=WORKSPACE, name="Default", write_key="wk")
    ingest_service = await build_ingest(wired, address="127.0.0.1:0")
    await ingest_service.start()
    ingest = IngestClient(f"127.0.0.1:{ingest_service.port}", 10, caller=suite_caller(wired))
    for batch in range(5):
        events = [track(f"m{batch}-{i}", user_id=f"u{i % 3}", properties={"n": batch * 10 + i}) for i in range(10)]
        await ingest.record(pb.RecordRequest(workspace_id=WORKSPACE, events=events))
    # ingest restarts while campaign is still down: the waiting events are kept.
    await ingest_service.stop()
    ingest_service = await build_ingest(wired, address="127.0.0.1:0")
    await ingest_service.start()
    await asyncio.sleep(0.3)
    server, _, receiver = await start_recording_campaign(f"127.0.0.1:{campaign_port}")
    try:
        await receiver.wait_for(50, timeout=30)
        await asyncio.sleep(0.3)
        assert receiver.received == 50 and receiver.repeats == 0
        for user in ("u0", "u1", "u2"):
            numbers = [orjson.loads(e.properties_json)["n"] for e in receiver.events if e.user_id == user]
            assert numbers == sorted(numbers)
    finally:
        await server.stop(None)
        await ingest.close()
        await identity.close()
        await ingest_service.stop()
        await identity_service.stop()
