"""Provider outcomes: per device, retries with backoff, permanent failures, gone tokens."""

from __future__ import annotations

from datetime import UTC, timedelta

from herald_common.testing import ScriptedCampaign
from herald_services.delivery.providers.base import Attempt
from herald_services.delivery.store import ADDRESS, SEND
from sqlalchemy import select

from tests.integration.delivery.conftest import START, send

PUSH = [("apns", "tok-a"), ("apns", "tok-b"), ("fcm", "tok-c")]


def addresses(delivery, send_id):
    with delivery.engine.connect() as connection:
        rows = connection.execute(select(ADDRESS).where(ADDRESS.c.send_id == send_id).order_by(ADDRESS.c.position)).all()
    return {row.value: (row.status, row.attempts) for row in rows}


def wake_at(delivery, send_id):
    with delivery.engine.connect() as connection:
        return connection.execute(select(SEND.c.wake_at).where(SEND.c.id == send_id)).scalar_one().replace(tzinfo=UTC)


async def test_push_succeeds_or_fails_per_device_and_never_resends_to_a_device_that_accepted(delivery):
    delivery.campaign.answers["push"] = ScriptedCampaign.go("push", channel="push", addresses=PUSH, title="Hi")
    delivery.provider.script = {
        "tok-b": [Attempt("gone", "410 Unregistered")],
        "tok-c": [Attempt("retry", "503 unavailable"), Attempt("accepted", "fcm-1")],
    }
    await delivery.schedule(send("push", channel="push"))
    await delivery.drain()
    assert addresses(delivery, "push") == {"tok-a": ("accepted", 1), "tok-b": ("gone", 1), "tok-c": ("retry", 1)}
    got = await delivery.client.get_send("push")
    assert (got.status, got.attempts) == ("scheduled", 1) and got.outcome.startswith("retrying")
    assert delivery.identity.removed == [("default", "apns", "tok-b")]
    await delivery.advance(minutes=5)
    assert [value for _, _, value in delivery.provider.calls] == ["tok-a", "tok-b", "tok-c", "tok-c"]
    assert addresses(delivery, "push")["tok-c"] == ("accepted", 2)
    got = await delivery.client.get_send("push")
    assert (got.status, got.attempts, got.sent_at.ToDatetime(UTC)) == ("sent", 2, START)
    assert "2 of 3 accepted" in got.outcome and "gone" in got.outcome
    await delivery.campaign.wait_until(lambda: delivery.campaign.statuses().get("push") == "sent")


async def test_retryable_failures_back_off_honour_retry_after_then_fail_with_the_reason(delivery):
    delivery.provider.script = {"r@example.com": [Attempt("retry", "429 slow down", retry_after=120)]}
    delivery.campaign.answers["r"] = ScriptedCampaign.go("r", addresses=[("email", "r@example.com")])
    await delivery.schedule(send("r"))
    await delivery.drain()
    assert wake_at(delivery, "r") - START >= timedelta(seconds=120)
    for _ in range(2):
        await delivery.advance(minutes=5)
    got = await delivery.client.get_send("r")
    assert (got.status, got.attempts) == ("failed", 3)  # provider_max_attempts
    assert got.outcome == "gave up after 3 attempts: 429 slow down"
    assert delivery.campaign.confirms == ["r"]  # retries reuse the confirmed message
    await delivery.advance(minutes=30)
    assert len(delivery.provider.calls) == 3
    await delivery.campaign.wait_until(lambda: delivery.campaign.statuses().get("r") == "failed")
    assert delivery.campaign.latest["r"].failed


async def test_a_permanent_refusal_fails_at_once(delivery):
    delivery.provider.script = {"bad": [Attempt("permanent", "21211 invalid 'To' number")]}
    delivery.campaign.answers["p"] = ScriptedCampaign.go("p", channel="sms", addresses=[("phone", "bad")], body="Hi")
    await delivery.schedule(send("p", channel="sms"))
    await delivery.drain()
    got = await delivery.client.get_send("p")
    assert (got.status, got.attempts, got.outcome) == ("failed", 1, "21211 invalid 'To' number")
    await delivery.advance(hours=1)
    assert len(delivery.provider.calls) == 1


async def test_a_provider_that_raises_is_a_retryable_attempt(delivery):
    class Broken:
        name = "broken"

        async def send(self, message, address):
            raise ConnectionResetError("peer went away")

        async def close(self):
            return None

    delivery.dispatcher.providers.routes[("email", "email")] = Broken()
    await delivery.schedule(send("b"))
    await delivery.drain()
    got = await delivery.client.get_send("b")
    assert got.status == "scheduled" and "ConnectionResetError" in got.outcome
    del delivery.dispatcher.providers.routes[("email", "email")]
    await delivery.advance(minutes=5)
    assert (await delivery.client.get_send("b")).status == "sent"


async def test_a_confirm_without_any_address_is_suppressed(delivery):
    delivery.campaign.answers["none"] = ScriptedCampaign.go("none", addresses=[])
    await delivery.schedule(send("none"))
    await delivery.drain()
    got = await delivery.client.get_send("none")
    assert (got.status, got.outcome) == ("suppressed", "no_address")


async def test_sends_and_provider_calls_are_counted_in_metrics(delivery):
    from herald_common.metrics import REGISTRY

    def sample(name: str, labels: dict) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (
        sample("herald_sends_total", {"channel": "email", "status": "sent"}),
        sample("herald_sends_total", {"channel": "email", "status": "suppressed"}),
        sample("herald_provider_latency_seconds_count", {"provider": "recording"}),
    )
    delivery.campaign.answers["m1"] = ScriptedCampaign.go("m1", addresses=[("email", "m1@example.com")])
    delivery.campaign.answers["m2"] = ScriptedCampaign.go("m2", addresses=[])
    await delivery.schedule(send("m1"), send("m2"))
    await delivery.drain()
    after = (
        sample("herald_sends_total", {"channel": "email", "status": "sent"}),
        sample("herald_sends_total", {"channel": "email", "status": "suppressed"}),
        sample("herald_provider_latency_seconds_count", {"provider": "recording"}),
    )
    assert [b - a for a, b in zip(before, after)] == [1, 1, 1]
