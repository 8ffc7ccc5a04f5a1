"""delivery's decision steps on SQLite and PostgreSQL, with a moved clock: scheduled, the window
(zone and where it came from, due before and after), stale, hold and release, each provider
attempt with its retry delay, sent / failed / unknown, cancelled."""

from __future__ import annotations

from datetime import UTC, timedelta
from types import SimpleNamespace

import grpc
import orjson
import pytest
from herald.campaign.v1 import campaign_pb2
from herald_common.testing import ScriptedCampaign
from herald_services.delivery import handlers
from herald_services.delivery.providers.base import Attempt

from tests.integration.delivery.conftest import START, WORKSPACE, send

pytestmark = pytest.mark.asyncio

WEEKDAYS_9_TO_18 = (("mon", "tue", "wed", "thu", "fri"), "09:00", "18:00")


async def steps_of(delivery, send_id: str) -> list[SimpleNamespace]:
    """The send's steps as herald explain reads them: through delivery's Explain RPC."""
    found = await delivery.client.explain(WORKSPACE, [f"p-{send_id}"], send_ids=[send_id])
    return [SimpleNamespace(step=s.step, outcome=s.outcome, detail=orjson.loads(s.detail_json), send_id=s.send_id,
                            campaign_id=s.campaign_id, at=s.at.ToDatetime(tzinfo=UTC)) for s in found.steps]


async def names(delivery, send_id: str):
    return [(s.step, s.outcome) for s in await steps_of(delivery, send_id)]


async def test_a_sent_email_records_scheduled_attempt_and_sent(delivery):
    await delivery.schedule(send("a"))
    await delivery.drain()
    assert await names(delivery, "a") == [("scheduled", "scheduled"), ("attempt", "accepted"), ("sent", "sent")]
    attempt = (await steps_of(delivery, "a"))[1]
    assert attempt.detail == {"provider": "recording", "address": "email", "attempt": 1, "answer": "accepted-1"}
    assert attempt.campaign_id == "c1" and attempt.send_id == "a"


async def test_the_window_step_names_the_zone_its_source_and_the_due_time_before_and_after(delivery):
    # 10:00 UTC is 05:00 in New York: the window opens at 09:00 there, 14:00 UTC
    delivery.campaign.answers["w"] = ScriptedCampaign.go("w", timezone="America/New_York")
    await delivery.schedule(send("w", window=WEEKDAYS_9_TO_18, fallback="Europe/Berlin"))
    await delivery.drain()
    window = (await steps_of(delivery, "w"))[-1]
    assert (window.step, window.outcome) == ("window", "moved")
    assert window.detail["zone"] == "America/New_York" and window.detail["zone_source"] == "user"
    assert window.detail["due_before"].startswith("2026-03-02T10:00:00")
    assert window.detail["due_after"].startswith("2026-03-02T14:00:00")
    await delivery.advance(hours=4)
    assert (await names(delivery, "w"))[-3:] == [("window", "open"), ("attempt", "accepted"), ("sent", "sent")]
    # without a user zone the fallback is used, and says so
    await delivery.schedule(send("f", window=WEEKDAYS_9_TO_18, fallback="Europe/Berlin"))
    await delivery.drain()
    window = [s for s in await steps_of(delivery, "f") if s.step == "window"][0]
    assert (window.outcome, window.detail["zone"], window.detail["zone_source"]) == ("open", "Europe/Berlin", "fallback")


async def test_a_window_with_no_zone_at_all_is_recorded_as_no_timezone(delivery):
    await delivery.schedule(send("n", window=WEEKDAYS_9_TO_18))
    await delivery.drain()
    assert (await names(delivery, "n"))[-1] == ("window", "no_timezone")


async def test_retries_record_each_attempt_with_its_delay_then_the_failure(delivery):
    delivery.provider.script = {"r@example.com": [Attempt("retry", "429 slow down", retry_after=120)]}
    delivery.campaign.answers["r"] = ScriptedCampaign.go("r", addresses=[("email", "r@example.com")])
    await delivery.schedule(send("r"))
    await delivery.drain()
    for _ in range(2):
        await delivery.advance(minutes=5)
    recorded = await steps_of(delivery, "r")
    attempts = [s for s in recorded if s.step == "attempt"]
    assert [(a.outcome, a.detail["attempt"]) for a in attempts] == [("retry", 1), ("retry", 2), ("failed", 3)]
    assert attempts[0].detail["retry_in_seconds"] >= 120 and attempts[0].detail["answer"] == "429 slow down"
    assert "retry_in_seconds" not in attempts[2].detail
    assert (recorded[-1].step, recorded[-1].detail["outcome"]) == ("failed", "gave up after 3 attempts: 429 slow down")


async def test_a_stale_send_and_a_held_then_released_send_are_recorded(delivery):
    await delivery.schedule(send("old", trigger_at=START - timedelta(days=2)))
    await delivery.drain()
    stale = (await steps_of(delivery, "old"))[-1]
    assert (stale.step, stale.outcome) == ("stale", "suppressed") and stale.detail["overdue_seconds"] == 2 * 86400
    delivery.campaign.answers["h"] = campaign_pb2.ConfirmResponse(go=False, hold=True, suppress_reason="campaign_paused")
    await delivery.schedule(send("h", campaign_id="paused"))
    await delivery.drain()
    assert (await names(delivery, "h"))[-1] == ("hold", "held")
    del delivery.campaign.answers["h"]
    await delivery.client.release("paused")
    await delivery.advance(seconds=1)
    assert (await names(delivery, "h"))[-3:] == [("release", "released"), ("attempt", "accepted"), ("sent", "sent")]


async def test_a_cancel_is_recorded_and_a_crash_mid_call_is_recorded_as_unknown(delivery):
    await delivery.schedule(send("c", delay=3600))
    await delivery.client.cancel_sends(["c"], reason="cancel_if")
    assert (await names(delivery, "c"))[-1] == ("cancelled", "cancelled")
    assert (await steps_of(delivery, "c"))[-1].detail == {"reason": "cancel_if"}
    await delivery.schedule(send("k", delay=1800))
    # A replica claimed it, began the provider call and died (its lease has run out).
    with delivery.engine.begin() as connection:
        handlers.claim(connection, owner="ghost", now=START + timedelta(hours=1), lease_until=START - timedelta(seconds=1),
                       limit=10)
        assert handlers.start_sending(connection, send_id="k", owner="ghost", now=START, positions=[0], message="{}",
                                      addresses=[("email", "k@example.com")])
    await delivery.dispatcher._recover(startup=False)  # what the poll does for expired leases
    last = (await steps_of(delivery, "k"))[-1]
    assert (last.step, last.outcome, last.detail.get("recovered")) == ("unknown", "unknown", True)
    assert delivery.provider.calls == []


async def test_with_explain_off_delivery_records_nothing(delivery):
    delivery.settings = delivery.settings.model_copy(update={"explain": False})
    await delivery.restart()
    delivery.provider.script = {"o@example.com": [Attempt("retry", "503")]}
    delivery.campaign.answers["o"] = ScriptedCampaign.go("o", addresses=[("email", "o@example.com")])
    await delivery.schedule(send("o"), send("o2", delay=60))
    await delivery.drain()
    await delivery.client.cancel_sends(["o2"], reason="cancel_if")
    assert len(delivery.provider.calls) == 1
    assert await steps_of(delivery, "o") == [] and await steps_of(delivery, "o2") == []


async def test_explain_reads_one_users_sends_in_order_and_only_those_asked_for(delivery):
    await delivery.schedule(send("e1", profile_id="ada"), send("e2", profile_id="ada", campaign_id="c2"),
                            send("e3", profile_id="bob"))
    await delivery.drain()
    every = await delivery.client.explain(WORKSPACE, ["ada"])
    assert {s.send_id for s in every.steps} == {"e1", "e2"}
    times = [s.at.ToDatetime() for s in every.steps]
    assert times == sorted(times)
    only = await delivery.client.explain(WORKSPACE, ["ada", "bob"], send_ids=["e2", "e3"])
    assert {s.send_id for s in only.steps} == {"e2", "e3"}
    by_campaign = await delivery.client.explain(WORKSPACE, ["ada"], campaign_id="c2")
    assert {s.send_id for s in by_campaign.steps} == {"e2"}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await delivery.client.explain(WORKSPACE, [])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "profile_ids" in refused.value.details()


async def test_forget_profiles_removes_every_step_of_those_users_only(delivery):
    await delivery.schedule(send("f1", profile_id="ada"), send("f2", profile_id="bob"))
    await delivery.drain()
    assert await delivery.client.forget_profiles(WORKSPACE, ["ada"]) >= 1
    assert (await delivery.client.explain(WORKSPACE, ["ada"])).steps == []
    assert [s.step for s in (await delivery.client.explain(WORKSPACE, ["bob"])).steps][-1] == "sent"


async def test_steps_older_than_the_retention_are_pruned_by_the_services_clock(delivery):
    delivery.settings = delivery.settings.model_copy(update={"explain_retention": "1d"})
    await delivery.restart()
    await delivery.schedule(send("old-one", profile_id="ada"))
    await delivery.drain()
    delivery.clock.advance(timedelta(hours=23))
    await delivery.schedule(send("new-one", profile_id="ada"))
    await delivery.drain()
    assert await delivery.dispatcher.prune_steps() == 0  # nothing is a day old yet
    delivery.clock.advance(timedelta(hours=2))
    assert await delivery.dispatcher.prune_steps() >= 1
    kept = await delivery.client.explain(WORKSPACE, ["ada"])
    assert {s.send_id for s in kept.steps} == {"new-one"}
