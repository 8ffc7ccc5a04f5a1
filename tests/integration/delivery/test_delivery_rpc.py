"""delivery's timing and its conversation with campaign, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from herald.campaign.v1 import campaign_pb2
from herald_common.testing import ScriptedCampaign
from sqlalchemy import select

from herald_services.delivery import handlers
from herald_services.delivery.store import SEND
from tests.integration.delivery.conftest import START, send

OFFICE = (("mon", "tue", "wed", "thu", "fri"), "09:00", "17:00")


def due(message) -> datetime:
    return message.due_at.ToDatetime(UTC)


async def test_schedule_answers_due_times_and_keeps_the_first_schedule_of_an_id(delivery):
    [plain, settled, windowed, nowhere] = await delivery.schedule(
        send("plain", delay=3600),
        send("settled", delay=30, settle=60),
        # 10:00 UTC is 05:00 in New York: the office window opens at 09:00 there (14:00 UTC).
        send("windowed", window=OFFICE, timezone="America/New_York"),
        send("nowhere", window=OFFICE),
    )
    assert (plain.status, due(plain)) == ("scheduled", START + timedelta(hours=1))
    assert due(settled) == START + timedelta(seconds=60)
    assert due(windowed) == datetime(2026, 3, 2, 14, 0, tzinfo=UTC) and windowed.timezone == "America/New_York"
    # campaign hands sends over without the user's zone: that is learnt at Confirm, not guessed
    assert (nowhere.status, nowhere.outcome) == ("scheduled", "")
    [again] = await delivery.schedule(send("plain", delay=60))
    assert due(again) == START + timedelta(hours=1) and again.delay_seconds == 3600
    fetched = await delivery.client.get_send("windowed")
    assert list(fetched.window.days) == ["mon", "tue", "wed", "thu", "fri"] and fetched.window.start == "09:00"


async def test_a_bad_window_is_refused_with_the_field(delivery):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await delivery.schedule(send("bad", window=(("mon",), "9am", "17:00")))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "sends[0].window.start" in refused.value.details()


async def test_a_due_send_is_confirmed_sent_once_and_reported(delivery):
    await delivery.schedule(send("s1"), send("later", delay=600))
    await delivery.drain()
    assert delivery.provider.calls == [("s1", "email", "s1@example.com")]
    assert delivery.campaign.confirms == ["s1"]
    await delivery.campaign.wait_until(lambda: "s1" in delivery.campaign.latest)
    mark = delivery.campaign.latest["s1"]
    assert (mark.status, mark.sent_at.ToDatetime(UTC), mark.due_at.ToDatetime(UTC)) == ("sent", START, START)
    got = await delivery.client.get_send("s1")
    assert (got.status, got.attempts, got.sent_at.ToDatetime(UTC)) == ("sent", 1, START)
    await delivery.drain()  # nothing more is due: nothing goes twice
    assert delivery.provider.sends() == ["s1"]
    await delivery.advance(minutes=10)
    assert delivery.provider.sends() == ["s1", "later"]


async def test_a_user_whose_zone_changed_gets_the_window_of_the_new_zone(delivery):
    # Scheduled in Berlin's window (11:00 there, open); by now the user lives in New York (05:00).
    [scheduled] = await delivery.schedule(send("moved", window=OFFICE, timezone="Europe/Berlin"))
    assert due(scheduled) == START
    delivery.campaign.answers["moved"] = ScriptedCampaign.go("moved", timezone="America/New_York")
    await delivery.drain()
    assert delivery.provider.calls == []
    opening = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    await delivery.campaign.wait_until(lambda: "moved" in delivery.campaign.latest)
    mark = delivery.campaign.latest["moved"]
    assert (mark.status, mark.due_at.ToDatetime(UTC)) == ("scheduled", opening)
    got = await delivery.client.get_send("moved")
    assert (got.status, due(got), got.timezone) == ("scheduled", opening, "America/New_York")
    await delivery.advance(hours=4)  # 14:00 UTC, 09:00 in New York
    assert delivery.provider.sends() == ["moved"]
    assert delivery.campaign.confirms == ["moved", "moved"]


async def test_with_a_window_and_no_zone_at_all_the_send_never_goes_at_a_guess(delivery):
    await delivery.schedule(send("lost-zone", window=OFFICE, timezone="Europe/Berlin"))
    delivery.campaign.answers["lost-zone"] = ScriptedCampaign.go("lost-zone", timezone="")
    await delivery.drain()
    got = await delivery.client.get_send("lost-zone")
    assert (got.status, got.outcome) == ("suppressed", "no_timezone")
    assert delivery.provider.calls == []


async def test_a_send_without_the_users_zone_asks_confirm_when_ready_and_uses_the_zone_it_learns(delivery):
    # 10:00 UTC on a monday: 19:00 in Tokyo (the fallback, closed) but 11:00 in Berlin, where the
    # user lives (open). The fallback's opening is only a guess until campaign names the zone.
    await delivery.schedule(send("berliner", window=OFFICE, fallback="Asia/Tokyo"))
    delivery.campaign.answers["berliner"] = ScriptedCampaign.go("berliner", timezone="Europe/Berlin")
    await delivery.drain()
    assert delivery.provider.sends() == ["berliner"]


async def test_a_send_with_a_window_and_no_zone_anywhere_is_suppressed_once_confirm_knows_none(delivery):
    await delivery.schedule(send("nowhere", window=OFFICE))
    delivery.campaign.answers["nowhere"] = ScriptedCampaign.go("nowhere", timezone="")
    await delivery.drain()
    got = await delivery.client.get_send("nowhere")
    assert (got.status, got.outcome) == ("suppressed", "no_timezone")
    assert delivery.provider.calls == []


async def test_the_fallback_zone_places_a_user_without_one(delivery):
    [scheduled] = await delivery.schedule(send("fallback", window=OFFICE, fallback="Asia/Tokyo"))
    # 10:00 UTC is 19:00 in Tokyo: the next opening is tuesday 09:00 there, 00:00 UTC.
    assert due(scheduled) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


async def test_a_send_overdue_past_the_stale_limit_is_suppressed_without_asking_campaign(delivery):
    await delivery.schedule(send("old", trigger_at=START - timedelta(hours=24, seconds=1)))
    await delivery.drain()
    got = await delivery.client.get_send("old")
    assert (got.status, got.outcome) == ("suppressed", "stale")
    assert delivery.campaign.confirms == [] and delivery.provider.calls == []
    await delivery.campaign.wait_until(lambda: "old" in delivery.campaign.latest)
    assert delivery.campaign.latest["old"].status == "suppressed"


async def test_campaign_says_no(delivery):
    await delivery.schedule(send("no"))
    delivery.campaign.answers["no"] = campaign_pb2.ConfirmResponse(go=False, suppress_reason="unsubscribed")
    await delivery.drain()
    got = await delivery.client.get_send("no")
    assert (got.status, got.outcome) == ("suppressed", "unsubscribed")


async def test_campaign_unreachable_is_asked_again_without_spending_provider_attempts(delivery):
    await delivery.schedule(send("later"))
    delivery.campaign.down = True
    await delivery.drain()
    got = await delivery.client.get_send("later")
    assert (got.status, got.attempts) == ("scheduled", 0) and "waiting for campaign" in got.outcome
    assert delivery.provider.calls == []
    delivery.campaign.down = False
    await delivery.advance(seconds=5)
    assert delivery.provider.sends() == ["later"]
    assert (await delivery.client.get_send("later")).status == "sent"


async def test_a_paused_campaign_holds_its_sends_and_release_spreads_them_and_drops_stale_ones(delivery):
    paused = ScriptedCampaign(default=campaign_pb2.ConfirmResponse(go=False, hold=True))
    delivery.campaign.decide = paused.answer_for
    await delivery.schedule(send("h-old", campaign_id="paused"))
    await delivery.drain()
    await delivery.schedule(*[send(f"h{i}", campaign_id="paused", trigger_at=START + timedelta(hours=2)) for i in range(3)])
    await delivery.advance(hours=2)
    held = await delivery.client.get_send("h0")
    assert (held.status, held.outcome) == ("scheduled", "held: campaign paused")
    asked = len(delivery.campaign.confirms)
    await delivery.advance(hours=1)
    assert len(delivery.campaign.confirms) == asked  # held sends have no timer
    delivery.campaign.decide = None
    delivery.clock.set(START + timedelta(hours=24, minutes=30))  # h-old is now 24.5 h overdue
    released = await delivery.client.release("paused")
    assert (released.released, released.stale) == (3, 1)
    assert (await delivery.client.get_send("h-old")).outcome == "stale"
    with delivery.engine.connect() as connection:
        wakes = sorted(connection.execute(select(SEND.c.wake_at).where(SEND.c.campaign_id == "paused", SEND.c.status == "scheduled")).scalars())
    # 2 a second, the first at once (the timer may already have taken it).
    assert [(w.replace(tzinfo=UTC) - delivery.clock.now()).total_seconds() for w in wakes] in ([0.0, 0.5, 1.0], [0.5, 1.0])
    await delivery.drain()
    assert delivery.provider.sends() == ["h0"]  # 2 a second: never one burst
    await delivery.advance(seconds=1)
    assert sorted(delivery.provider.sends()) == ["h0", "h1", "h2"]


async def test_a_hold_answered_while_the_campaign_was_released_does_not_park_the_send(delivery):
    answered = []

    def decide(send_id):
        if answered:
            return ScriptedCampaign.go(send_id)
        answered.append(send_id)
        # campaign resumed (and delivery's Release ran) while this "hold" was on its way back
        with delivery.engine.begin() as connection:
            handlers.release(connection, campaign_id="flip", now=delivery.clock.now(), per_second=2.0,
                             stale_after=timedelta(hours=24))
        return campaign_pb2.ConfirmResponse(go=False, hold=True)

    delivery.campaign.decide = decide
    await delivery.schedule(send("raced", campaign_id="flip"))
    await delivery.drain()
    assert delivery.provider.sends() == ["raced"]
    assert delivery.campaign.confirms == ["raced", "raced"]


async def test_cancel_by_send_campaign_and_profile_lists_and_gets(delivery):
    await delivery.schedule(
        send("k1", campaign_id="ca", delay=60),
        send("k2", campaign_id="ca", delay=60),
        send("k3", campaign_id="cb", profile_id="pz", delay=60),
        send("k4", campaign_id="cb", profile_id="pz"),
    )
    await delivery.drain()  # k4 goes now: too late to cancel
    assert await delivery.client.cancel(send_id="k1", reason="goal reached") == 1
    assert await delivery.client.cancel(campaign_id="ca") == 1
    assert await delivery.client.cancel(profile_id="pz") == 1
    assert await delivery.client.cancel(send_id="k4") == 0
    statuses = {s.id: (s.status, s.outcome) for s in (await delivery.client.list_sends(workspace_id="default")).sends}
    assert statuses["k1"] == ("cancelled", "goal reached") and statuses["k2"] == ("cancelled", "cancelled")
    assert statuses["k3"][0] == "cancelled" and statuses["k4"][0] == "sent"
    assert {s.id for s in (await delivery.client.list_sends(campaign_id="cb")).sends} == {"k3", "k4"}
    assert {s.id for s in (await delivery.client.list_sends(profile_id="pz", limit=1)).sends} <= {"k3", "k4"}
    await delivery.campaign.wait_until(lambda: {"k1", "k2", "k3", "k4"} <= set(delivery.campaign.latest))
    assert [delivery.campaign.latest[k].status for k in ("k1", "k2", "k3")] == ["cancelled"] * 3
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await delivery.client.get_send("nope")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    await delivery.advance(minutes=2)
    assert delivery.provider.sends() == ["k4"]


async def test_cancel_sends_cancels_the_named_pending_sends_in_one_call(delivery):
    await delivery.schedule(
        send("m1", delay=60), send("m2", delay=60), send("m3", delay=60), send("m4"),
    )
    await delivery.drain()  # m4 goes now: too late to cancel
    # m1 twice, m4 already sent, "ghost" unknown: only m1 and m2 are cancelled.
    assert await delivery.client.cancel_sends(["m1", "m2", "m1", "m4", "ghost"], reason="cancel_if") == 2
    statuses = {s.id: (s.status, s.outcome) for s in (await delivery.client.list_sends(workspace_id="default")).sends}
    assert statuses["m1"] == ("cancelled", "cancel_if") and statuses["m2"] == ("cancelled", "cancel_if")
    assert statuses["m3"][0] == "scheduled" and statuses["m4"][0] == "sent"
    await delivery.campaign.wait_until(lambda: {"m1", "m2"} <= set(delivery.campaign.latest))
    assert [delivery.campaign.latest[k].status for k in ("m1", "m2")] == ["cancelled"] * 2
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await delivery.client.cancel_sends([])
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "send_ids" in empty.value.details()
    await delivery.advance(minutes=2)
    assert sorted(delivery.provider.sends()) == ["m3", "m4"]


async def test_cancel_reaches_a_send_waiting_to_retry_but_not_a_push_a_device_accepted(delivery):
    from herald_services.delivery.providers.base import Attempt

    delivery.provider.script["flaky@example.com"] = [Attempt("retry", "421 try later")]
    delivery.provider.script["gone-later"] = [Attempt("retry", "503")]
    delivery.campaign.answers["waiting"] = ScriptedCampaign.go("waiting", addresses=[("email", "flaky@example.com")])
    delivery.campaign.answers["half"] = ScriptedCampaign.go(
        "half", channel="push", addresses=[("apns", "took-it"), ("fcm", "gone-later")], title="T", body="B")
    await delivery.schedule(send("waiting"), send("half", channel="push"))
    await delivery.drain()
    statuses = {s.id: (s.status, s.attempts) for s in (await delivery.client.list_sends(workspace_id="default")).sends}
    assert statuses["waiting"][0] == "scheduled" and statuses["waiting"][1] >= 1  # a retry is due later
    assert statuses["half"][0] == "scheduled"  # one device accepted, the other waits to retry

    assert await delivery.client.cancel_sends(["waiting", "half"], reason="cancel_if") == 1
    assert (await delivery.client.get_send("waiting")).status == "cancelled"
    calls_before = len(delivery.provider.calls)
    delivery.provider.script["flaky@example.com"] = [Attempt("accepted", "250 ok")]
    await delivery.advance(hours=1)
    assert [c[2] for c in delivery.provider.calls[calls_before:]] == ["gone-later"]  # never flaky@ again
