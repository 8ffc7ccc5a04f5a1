"""Once and only once: restarts, crashes mid-call, campaign outages, two replicas, the timer."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from herald_common.clients import DeliveryClient
from herald_common.clock import SystemClock
from herald_common.db import create_service_engine, migrate
from herald_common.testing import suite_caller
from herald_services.delivery import handlers
from herald_services.delivery.providers.outbox import OutboxProvider
from herald_services.delivery.store import REPORT, metadata
from sqlalchemy import func, select

from tests.integration.delivery.conftest import START, RecordingProvider, send, start_delivery


class GatedOutbox(OutboxProvider):
    """The receiving side: one JSON line per message. For gated addresses the provider accepts
    (the line is written) and then never answers, as when herald dies right after the accept."""

    def __init__(self, data_dir, gated=()) -> None:
        super().__init__(data_dir)
        self.gated = set(gated)
        self.stuck = 0
        self.arrived = asyncio.Event()

    async def send(self, message, address):
        attempt = await super().send(message, address)
        if address.value in self.gated:
            self.stuck += 1
            if self.stuck == len(self.gated):
                self.arrived.set()
            await asyncio.Event().wait()
        return attempt


def outbox_counts(data_dir) -> Counter:
    path = data_dir / "outbox.jsonl"
    lines = path.read_bytes().splitlines() if path.exists() else []
    return Counter(orjson.loads(line)["send_id"] for line in lines)


async def test_a_crash_with_pending_in_flight_and_claimed_sends_loses_none_and_sends_none_twice(delivery):
    data_dir = delivery.settings.data_dir
    gated = GatedOutbox(data_dir, gated={"s0@example.com", "s1@example.com"})
    await delivery.restart(provider=gated)
    await delivery.schedule(*[send(f"c{i}", delay=1800) for i in range(3)])
    # Claimed by a replica that died before its provider call (its lease has run out).
    with delivery.engine.begin() as connection:
        claimed = handlers.claim(connection, owner="ghost", now=START + timedelta(hours=1), lease_until=START - timedelta(seconds=1), limit=10)
    assert sorted(r["id"] for r in claimed) == ["c0", "c1", "c2"]
    await delivery.schedule(*[send(f"p{i}", delay=3600) for i in range(10)])  # pending
    await delivery.schedule(*[send(f"s{i}") for i in range(20)])  # due now; s0, s1 stick in the provider
    await asyncio.wait_for(gated.arrived.wait(), 10)
    await delivery.campaign.wait_until(lambda: sum(1 for s in delivery.campaign.statuses().values() if s == "sent") == 18)
    await delivery.restart(crash=True, provider=OutboxProvider(data_dir))
    await delivery.advance(hours=1)
    counts = outbox_counts(data_dir)
    expected = {f"s{i}" for i in range(20)} | {f"p{i}" for i in range(10)} | {f"c{i}" for i in range(3)}
    assert set(counts) == expected and set(counts.values()) == {1}
    statuses = {s.id: s.status for s in (await delivery.client.list_sends(limit=100)).sends}
    assert statuses["s0"] == statuses["s1"] == "unknown"
    assert all(statuses[name] == "sent" for name in expected - {"s0", "s1"})
    await delivery.campaign.wait_until(lambda: delivery.campaign.statuses().get("s0") == "unknown")
    await delivery.advance(hours=30)
    assert outbox_counts(data_dir) == counts


async def test_a_clean_stop_keeps_pending_sends_and_sends_each_once_after_the_start(delivery):
    data_dir = delivery.settings.data_dir
    await delivery.restart(provider=OutboxProvider(data_dir))
    await delivery.schedule(*[send(f"q{i}", delay=60 * i) for i in range(1, 21)])
    await delivery.advance(minutes=5)
    await delivery.restart()
    await delivery.advance(minutes=30)
    counts = outbox_counts(data_dir)
    assert set(counts) == {f"q{i}" for i in range(1, 21)} and set(counts.values()) == {1}


async def test_mark_sent_waits_durably_while_campaign_is_down_and_across_a_restart(delivery):
    delivery.campaign.marks_down = True
    await delivery.schedule(send("m1"), send("m2"))
    await delivery.drain()
    await delivery.dispatcher.reports.settled()
    assert delivery.campaign.refused >= 1 and delivery.campaign.marks == []
    await delivery.restart()
    delivery.clock.advance(timedelta(minutes=2))
    delivery.campaign.marks_down = False
    delivery.dispatcher.reports.poll()
    await delivery.campaign.wait_until(lambda: set(delivery.campaign.statuses()) == {"m1", "m2"})
    assert [m.status for m in delivery.campaign.marks] == ["sent", "sent"]
    assert delivery.campaign.latest["m1"].sent_at.ToDatetime(UTC) == START
    await delivery.dispatcher.reports.settled()
    with delivery.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(REPORT)).scalar_one() == 0
    assert sorted(delivery.provider.sends()) == ["m1", "m2"]


async def test_two_replicas_share_due_sends_each_dispatched_exactly_once(delivery):
    if delivery.engine.dialect.name != "postgresql":
        pytest.skip("several replicas share one database on PostgreSQL; SQLite has one owner")
    other_provider = RecordingProvider()
    other = await start_delivery(delivery.settings, delivery.clock, other_provider, replica_id="replica-2", concurrency=16)
    try:
        delivery.dispatcher.concurrency = 16
        for start in range(0, 400, 100):
            await delivery.schedule(*[send(f"r{i}", delay=60) for i in range(start, start + 100)])
        delivery.clock.advance(timedelta(minutes=1))
        await asyncio.gather(delivery.dispatcher.drain(wait=True), other.extras["dispatcher"].drain(wait=True))
        calls = Counter(delivery.provider.sends()) + Counter(other_provider.sends())
        assert set(calls) == {f"r{i}" for i in range(400)} and set(calls.values()) == {1}
        assert delivery.provider.calls and other_provider.calls
        assert Counter(delivery.campaign.confirms) == calls
    finally:
        await other.stop()


async def test_the_timer_wakes_the_service_at_the_due_time_with_one_job(settings):
    from tests.integration.delivery.conftest import migrate_delivery
    from herald_common.testing import start_scripted_campaign

    migrate_delivery(settings)
    server, port, campaign = await start_scripted_campaign()
    wired = settings.model_copy(update={"campaign_address": f"127.0.0.1:{port}"})
    provider = RecordingProvider()
    service = await start_delivery(wired, SystemClock(), provider)
    client = DeliveryClient(f"127.0.0.1:{service.port}", 10, caller=suite_caller(wired))
    try:
        now = datetime.now(UTC)
        soon = send("soon", trigger_at=now - timedelta(seconds=59.7), delay=60)
        later = [send(f"later{i}", trigger_at=now, delay=3600 + i) for i in range(50)]
        await client.schedule([soon, *later])
        scheduler = service.extras["dispatcher"].timer.scheduler
        assert {job.id for job in scheduler.get_jobs()} <= {"wake", "poll"}
        await campaign.wait_until(lambda: "soon" in campaign.latest)
        assert provider.sends() == ["soon"]
        assert [job.id for job in scheduler.get_jobs() if job.id == "wake"] == ["wake"]
    finally:
        await client.close()
        await service.stop()
        await server.stop(None)


def test_delivery_migrations_match_its_tables(settings):
    engine = create_service_engine(settings, "delivery")
    migrate(engine, "delivery")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert differences == []
