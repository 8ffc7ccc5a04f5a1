"""The campaign service over gRPC, on SQLite and PostgreSQL: apply, trigger, settle, Confirm,
cancel_if, goals, versions, pause/resume, unsubscribes and stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from herald.campaign.v1 import campaign_pb2
from herald_common.clients import DeliveryClient
from herald_common.testing import suite_caller
from herald_services.campaign.handlers import send_id_for

from tests.integration.campaign.conftest import EXAMPLES
from tests.integration.conftest import WORKSPACE, free_port

pytestmark = pytest.mark.asyncio

ADDED = "[Segment] Added item to cart"
PURCHASE = "[Segment] Purchase made"


async def _only_send(suite, **kwargs):
    sends = await suite.sends(**kwargs)
    assert len(sends) == 1, sends
    return sends[0]


async def test_every_example_applies_and_reapplying_unchanged_changes_nothing(suite):
    names = ["coupon-campaign-europe.yaml", "cart-reminder-sms.yaml", "welcome-push.yaml",
             "churn-webhook.yaml", "payment-failed-voice.yaml"]
    for name in names:
        response = await suite.apply_example(name)
        assert response.created and response.changed
        assert response.campaign.status == "live" and response.campaign.version == 1
    again = await suite.apply_example("welcome-push.yaml")
    assert not again.created and not again.changed and again.campaign.version == 1
    listed = await suite.stub.ListCampaigns(campaign_pb2.ListCampaignsRequest(workspace_id=WORKSPACE))
    assert sorted(c.name for c in listed.campaigns) == sorted([
        "Coupon Campaign - Europe", "Cart reminder SMS", "Welcome push", "Churn risk webhook", "Payment failed call",
    ])


async def test_a_bad_file_is_refused_whole_with_each_error_by_path(suite):
    text = """
name: Broken
trigger: {event: "[Segment] X"}
filters:
  any_of:
    - all_of:
        - {source: event, property: price, op: gtt, value: 1}
message: {channel: email, subject: "{{ oops", body: hi}
"""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.apply(text)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details()
    assert "filters.any_of[0].all_of[0].op: unknown operator 'gtt'" in details
    assert "message.subject" in details
    listed = await suite.stub.ListCampaigns(campaign_pb2.ListCampaignsRequest(workspace_id=WORKSPACE))
    assert [c.name for c in listed.campaigns] == []


async def test_instant_campaign_is_scheduled_at_once_without_settling(suite):
    await suite.apply_example("welcome-push.yaml")
    profile = await suite.identify("u1", first_name="Ada", device={"type": "ios", "token": "a" * 64})
    event = suite.event(profile, "u1", "[Segment] Signed Up", plan="pro")
    await suite.send_events(event)
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    scheduled = next(iter(suite.delivery.scheduled.values()))
    assert scheduled.settle_seconds == 0 and scheduled.delay_seconds == 0 and scheduled.channel == "push"
    assert not scheduled.HasField("window")
    send = await _only_send(suite)
    assert send.status == "scheduled" and send.user_id == "u1" and send.campaign == "Welcome push"
    confirmed = await suite.confirm(scheduled.id)
    assert confirmed.go
    assert confirmed.message.title == "Welcome, Ada" and confirmed.message.body == "Your pro plan is ready."
    assert [(a.kind, a.value) for a in confirmed.addresses] == [("apns", "a" * 64)]


async def test_filtered_campaign_settles_and_event_filters_keep_users_out_at_once(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    profile = await suite.identify("u2", email="u2@example.com")
    await suite.send_events(
        suite.event(profile, "u2", ADDED, price=50, locale="EU"),
        suite.event(profile, "u2", ADDED, price="10", locale="EU"),  # numeric string, fails gt 45
    )
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    scheduled = next(iter(suite.delivery.scheduled.values()))
    assert scheduled.settle_seconds == 60
    assert list(scheduled.window.days) == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert (scheduled.window.start, scheduled.window.end) == ("08:00", "21:00")
    assert scheduled.window.fallback_timezone == "Europe/Berlin"
    send = await _only_send(suite)
    assert send.status == "settling"
    stats = await suite.stats("Coupon Campaign - Europe")
    assert (stats.triggered, stats.scheduled) == (2, 1)
    assert dict(stats.not_entered) == {"filters": 1}


async def test_an_identify_during_the_settle_period_is_what_confirm_sees(suite):
    await suite.apply_example("cart-reminder-sms.yaml")
    profile = await suite.identify("u3", first_name="Bo", plan="Enterprise")
    await suite.send_events(suite.event(profile, "u3", ADDED, properties={"cart_id": "c1", "name": "red shoes"}))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    # identify arrives after the track: phone added, plan changed
    await suite.identify("u3", phone="+14155550100", plan="Pro")
    confirmed = await suite.confirm(send_id)
    assert confirmed.go, confirmed.suppress_reason
    assert confirmed.message.body == "Bo, your cart is waiting: red shoes"
    assert [(a.kind, a.value) for a in confirmed.addresses] == [("phone", "+14155550100")]
    assert (await _only_send(suite)).status == "sending"


async def test_confirm_suppresses_when_filters_no_longer_hold(suite):
    await suite.apply_example("cart-reminder-sms.yaml")
    profile = await suite.identify("u4", phone="+14155550101", plan="Enterprise")
    await suite.send_events(suite.event(profile, "u4", ADDED, cart_id="c1"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    confirmed = await suite.confirm(next(iter(suite.delivery.scheduled)))
    assert not confirmed.go and confirmed.suppress_reason == "filters" and not confirmed.hold
    send = await _only_send(suite)
    assert (send.status, send.outcome) == ("suppressed", "filters")
    stats = await suite.stats("Cart reminder SMS")
    assert stats.suppressed == 1 and dict(stats.suppressed_by_reason) == {"filters": 1}


async def test_a_redelivered_event_makes_no_second_send(suite):
    await suite.apply_example("welcome-push.yaml")
    profile = await suite.identify("u5")
    event = suite.event(profile, "u5", "[Segment] Signed Up", plan="pro")
    await suite.send_events(event)
    await suite.send_events(event, event)
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    assert len(await suite.sends()) == 1
    assert (await suite.stats("Welcome push")).triggered == 1


async def test_cancel_if_cancels_the_pending_send_for_the_same_cart_only(suite):
    await suite.apply_example("cart-reminder-sms.yaml")
    profile = await suite.identify("u6", phone="+14155550102")
    start = datetime.now(UTC)
    await suite.send_events(suite.event(profile, "u6", ADDED, at=start, cart_id="c1"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    # another cart's purchase does not cancel; this cart's does
    await suite.send_events(suite.event(profile, "u6", PURCHASE, at=start + timedelta(minutes=1), cart_id="c2"))
    assert (await _only_send(suite)).status == "settling"
    await suite.send_events(suite.event(profile, "u6", PURCHASE, at=start + timedelta(minutes=2), cart_id="c1"))
    await suite.delivery.wait(lambda: suite.delivery.cancelled == [send_id])
    send = await _only_send(suite)
    assert (send.status, send.outcome) == ("cancelled", f"cancel_if: {PURCHASE}")
    confirmed = await suite.confirm(send_id)
    assert not confirmed.go and confirmed.suppress_reason.startswith("cancel_if")
    assert (await suite.stats("Cart reminder SMS")).cancelled == 1


async def test_reentry_once_per_day(suite):
    await suite.apply_example("cart-reminder-sms.yaml")
    profile = await suite.identify("u7", phone="+14155550103")
    start = datetime.now(UTC) - timedelta(days=3)
    await suite.send_events(
        suite.event(profile, "u7", ADDED, at=start, cart_id="c1"),
        suite.event(profile, "u7", ADDED, at=start + timedelta(hours=5), cart_id="c2"),  # within a day: kept out
        suite.event(profile, "u7", ADDED, at=start + timedelta(days=1), cart_id="c3"),  # a day later: enters
    )
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 2)
    stats = await suite.stats("Cart reminder SMS")
    assert (stats.triggered, stats.scheduled, dict(stats.not_entered)) == (3, 2, {"reentry": 1})


async def test_goal_converts_once_inside_its_window_and_stats_show_the_rate(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    profile = await suite.identify("u8", email="u8@example.com", first_name="Cy")
    start = datetime.now(UTC) - timedelta(hours=3)
    await suite.send_events(suite.event(profile, "u8", ADDED, at=start, price=99.5, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    confirmed = await suite.confirm(send_id)
    assert confirmed.go
    assert confirmed.message.subject == "Cy, 10% off what is in your cart"
    assert "costs 99.5" in confirmed.message.body
    assert [(a.kind, a.value) for a in confirmed.addresses] == [("email", "u8@example.com")]
    sent_at = start + timedelta(minutes=1)
    # a purchase before the message was sent does not count
    await suite.send_events(suite.event(profile, "u8", PURCHASE, at=start + timedelta(seconds=30), **{"Coupon used": True}))
    await suite.mark(send_id, at=sent_at)
    await suite.send_events(
        suite.event(profile, "u8", PURCHASE, at=sent_at + timedelta(minutes=5), **{"Coupon used": False}),
        suite.event(profile, "u8", PURCHASE, at=sent_at + timedelta(minutes=10), **{"Coupon used": "true"}),
        suite.event(profile, "u8", PURCHASE, at=sent_at + timedelta(minutes=20), **{"Coupon used": True}),
    )
    stats = await suite.stats("Coupon Campaign - Europe")
    assert (stats.sent, stats.scheduled, stats.triggered) == (1, 1, 1)
    [goal] = stats.goals
    assert (goal.name, goal.primary, goal.conversions, goal.rate) == ("Purchased with coupon", True, 1, 1.0)
    assert goal.average_seconds_to_convert == pytest.approx(600)
    send = await _only_send(suite)
    assert send.status == "sent" and send.sent_at.ToDatetime(tzinfo=UTC) == sent_at.replace(microsecond=send.sent_at.nanos // 1000)


async def test_goal_outside_window_and_match_trigger_do_not_convert(suite):
    await suite.apply_example("cart-reminder-sms.yaml")
    profile = await suite.identify("u9", phone="+14155550104", plan="Pro")
    start = datetime.now(UTC) - timedelta(days=10)
    await suite.send_events(suite.event(profile, "u9", ADDED, at=start, cart_id="c9"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    assert (await suite.confirm(send_id)).go
    await suite.mark(send_id, at=start + timedelta(hours=4))
    await suite.send_events(
        suite.event(profile, "u9", PURCHASE, at=start + timedelta(hours=5), cart_id="other"),
        suite.event(profile, "u9", PURCHASE, at=start + timedelta(days=4), cart_id="c9"),  # window is 3d
    )
    assert (await suite.stats("Cart reminder SMS")).goals[0].conversions == 0
    await suite.send_events(suite.event(profile, "u9", PURCHASE, at=start + timedelta(days=2), cart_id="c9"))
    assert (await suite.stats("Cart reminder SMS")).goals[0].conversions == 1


async def test_pause_holds_and_resume_releases_through_delivery(suite):
    await suite.apply_example("welcome-push.yaml")
    profile = await suite.identify("u10", device={"type": "android", "token": "f" * 40})
    await suite.send_events(suite.event(profile, "u10", "[Segment] Signed Up", plan="pro"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    request = campaign_pb2.SetCampaignStatusRequest(workspace_id=WORKSPACE, name="Welcome push")
    paused = await suite.stub.PauseCampaign(request)
    assert paused.status == "paused"
    held = await suite.confirm(send_id)
    assert not held.go and held.hold
    # a paused campaign takes no new users
    await suite.send_events(suite.event(profile, "u10", "[Segment] Signed Up", plan="pro"))
    assert len(await suite.sends()) == 1
    resumed = await suite.stub.ResumeCampaign(request)
    assert resumed.status == "live" and suite.delivery.released == [resumed.id]
    confirmed = await suite.confirm(send_id)
    assert confirmed.go and [(a.kind, a.value) for a in confirmed.addresses] == [("fcm", "f" * 40)]


async def test_a_changed_live_campaign_gets_a_new_version_that_pending_sends_use(suite):
    text = (EXAMPLES / "welcome-push.yaml").read_text()
    await suite.apply(text)
    profile = await suite.identify("u11", first_name="Di", device={"type": "ios", "token": "b" * 64})
    await suite.send_events(suite.event(profile, "u11", "[Segment] Signed Up", plan="pro"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    changed = await suite.apply(text.replace('"Welcome, {{', '"Hello again, {{'))
    assert changed.changed and changed.campaign.version == 2
    confirmed = await suite.confirm(next(iter(suite.delivery.scheduled)))
    assert confirmed.message.title == "Hello again, Di"
    shown = await suite.stub.GetCampaign(campaign_pb2.GetCampaignRequest(workspace_id=WORKSPACE, name="Welcome push"))
    assert shown.version == 2 and "Hello again" in shown.source_yaml


async def test_unsubscribes_by_trait_by_command_and_per_campaign(suite):
    await suite.apply_example("welcome-push.yaml")
    await suite.apply_example("churn-webhook.yaml")
    profile = await suite.identify("u12", device={"type": "ios", "token": "c" * 64})

    async def trigger_welcome():
        before = len(suite.delivery.scheduled)
        await suite.send_events(suite.event(profile, "u12", "[Segment] Signed Up", plan="pro"))
        await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == before + 1)
        newest = (await suite.sends(campaign="Welcome push"))[0]
        return await suite.confirm(newest.id)

    unsubscribe = campaign_pb2.UnsubscribeRequest(workspace_id=WORKSPACE, id="u12", campaign="Welcome push")
    await suite.stub.Unsubscribe(unsubscribe)
    assert (await trigger_welcome()).suppress_reason == "unsubscribed"
    unsubscribe.resubscribe = True
    await suite.stub.Unsubscribe(unsubscribe)
    assert (await trigger_welcome()).go
    await suite.stub.Unsubscribe(campaign_pb2.UnsubscribeRequest(workspace_id=WORKSPACE, id="u12"))
    assert (await trigger_welcome()).suppress_reason == "unsubscribed"
    await suite.stub.Unsubscribe(campaign_pb2.UnsubscribeRequest(workspace_id=WORKSPACE, id="u12", resubscribe=True))
    await suite.identify("u12", unsubscribed=True)
    assert (await trigger_welcome()).suppress_reason == "unsubscribed"
    await suite.identify("u12", unsubscribed=False)
    assert (await trigger_welcome()).go
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.stub.Unsubscribe(campaign_pb2.UnsubscribeRequest(workspace_id=WORKSPACE, id="nobody"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_sends_list_filters_by_campaign_and_user(suite):
    await suite.apply_example("welcome-push.yaml")
    await suite.apply_example("coupon-campaign-europe.yaml")
    a = await suite.identify("ua")
    b = await suite.identify("ub")
    await suite.send_events(
        suite.event(a, "ua", "[Segment] Signed Up", plan="x"),
        suite.event(b, "ub", "[Segment] Signed Up", plan="x"),
        suite.event(a, "ua", ADDED, price=50, locale="EU"),
    )
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 3)
    assert len(await suite.sends()) == 3
    assert {s.user_id for s in await suite.sends(campaign="Welcome push")} == {"ua", "ub"}
    assert {s.campaign for s in await suite.sends(user_id="ua")} == {"Welcome push", "Coupon Campaign - Europe"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.sends(campaign="Nope")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_delivery_reports_and_no_address(suite):
    await suite.apply_example("payment-failed-voice.yaml")
    profile = await suite.identify("u13")  # no phone number
    await suite.send_events(suite.event(profile, "u13", "[Segment] Payment Failed", amount=10))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    confirmed = await suite.confirm(send_id)
    assert not confirmed.go
    assert confirmed.suppress_reason in ("no_address", "filters")
    # a terminal send stays as it is whatever delivery reports later
    await suite.mark(send_id, status="failed", outcome="late report")
    send = await _only_send(suite)
    assert send.status == "suppressed"


async def test_sends_wait_for_delivery_and_are_handed_over_when_it_is_back(suite):
    await suite.apply_example("welcome-push.yaml")
    profile = await suite.identify("u14")
    # delivery refuses for a while: stop the recorder's server by pointing campaign elsewhere
    servicer = suite.campaign_service.extras["servicer"]
    real = servicer.delivery
    servicer.delivery = DeliveryClient(f"127.0.0.1:{free_port()}", 0.5, caller=real.caller)
    await suite.send_events(suite.event(profile, "u14", "[Segment] Signed Up", plan="pro"))
    sends = await suite.sends()
    assert len(sends) == 1 and suite.delivery.scheduled == {}
    await servicer.delivery.close()
    servicer.delivery = real
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1, timeout=15)
    assert next(iter(suite.delivery.scheduled)) == sends[0].id


async def test_send_ids_are_stable_per_campaign_and_event(suite):
    applied = await suite.apply_example("welcome-push.yaml")
    profile = await suite.identify("u15")
    event = suite.event(profile, "u15", "[Segment] Signed Up", event_id="4242", plan="x")
    await suite.send_events(event)
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    assert next(iter(suite.delivery.scheduled)) == send_id_for(applied.campaign.id, "4242")


async def test_decisions_are_counted_in_metrics(suite):
    from herald_common.metrics import REGISTRY

    def value(outcome: str) -> float:
        return REGISTRY.get_sample_value("herald_campaign_decisions_total", {"outcome": outcome}) or 0.0

    before = {outcome: value(outcome) for outcome in ("settling", "suppressed", "duplicate", "confirmed")}
    await suite.apply_example("coupon-campaign-europe.yaml")
    profile = await suite.identify("um", email="um@example.com")
    entering = suite.event(profile, "um", ADDED, price=50, locale="EU")
    await suite.send_events(entering, suite.event(profile, "um", ADDED, price=1, locale="EU"))
    await suite.send_events(entering)
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    await suite.confirm(next(iter(suite.delivery.scheduled)))
    assert {outcome: value(outcome) - before[outcome] for outcome in before} == {
        "settling": 1, "suppressed": 1, "duplicate": 1, "confirmed": 1,
    }


async def test_confirm_and_mark_sent_in_batches(suite):
    await suite.apply_example("welcome-push.yaml")
    await suite.apply_example("coupon-campaign-europe.yaml")
    a = await suite.identify("ba", first_name="Al", device={"type": "ios", "token": "d" * 64})
    b = await suite.identify("bb")  # no device, no email
    await suite.send_events(
        suite.event(a, "ba", "[Segment] Signed Up", plan="x"),
        suite.event(b, "bb", "[Segment] Signed Up", plan="y"),
        suite.event(a, "ba", ADDED, price=50, locale="EU"),
    )
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 3)
    by_user = {s.user_id + s.campaign: s.id for s in await suite.sends()}
    ids = [by_user["baWelcome push"], by_user["bbWelcome push"], "no-such-send", by_user["baCoupon Campaign - Europe"]]
    response = await suite.stub.ConfirmBatch(campaign_pb2.ConfirmBatchRequest(send_ids=ids))
    assert [r.send_id for r in response.results] == ids
    first, second, missing, coupon = response.results
    assert first.answer.go and first.answer.message.title == "Welcome, Al"
    assert not second.answer.go and second.answer.suppress_reason == "no_address"
    assert missing.error == "not_found"
    assert not coupon.answer.go and coupon.answer.suppress_reason == "no_address"
    reports = campaign_pb2.MarkSentBatchRequest(reports=[
        campaign_pb2.MarkSentRequest(send_id=ids[0], status="sent"), campaign_pb2.MarkSentRequest(send_id="nope", status="sent"),
    ])
    reports.reports[0].sent_at.GetCurrentTime()
    marked = await suite.stub.MarkSentBatch(reports)
    assert list(marked.unknown_send_ids) == ["nope"]
    assert {s.id: s.status for s in await suite.sends()}[ids[0]] == "sent"


async def test_a_second_replica_sees_a_campaign_applied_through_the_first_at_once(suite):
    if suite.settings.database_url is None:
        pytest.skip("replicas share a PostgreSQL database; a SQLite file has one campaign process")
    from herald_common.clients import CampaignClient
    from herald_services.campaign.main import build as build_campaign

    other_settings = suite.settings.model_copy(update={"campaign_address": f"127.0.0.1:{free_port()}"})
    other = await build_campaign(other_settings)
    await other.start()
    other_client = CampaignClient(other_settings.campaign_address, 10, caller=suite_caller(other_settings))
    try:
        await other_client.send_events(campaign_pb2.OnEventsRequest())  # loaded, before the apply
        await suite.apply_example("welcome-push.yaml")  # through the first replica
        profile = await suite.identify("replica-user")
        await other_client.send_events(campaign_pb2.OnEventsRequest(
            events=[suite.event(profile, "replica-user", "[Segment] Signed Up", plan="x")]
        ))
        await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    finally:
        await other_client.close()
        await other.stop()


async def test_cancel_if_reaches_a_send_confirm_already_let_go_while_delivery_still_holds_it(suite):
    """Confirm said go, but delivery is holding the send (its window is closed, or a retry is
    waiting): a matching cancel_if event must still stop it. Campaign asks delivery to cancel
    and leaves the status to delivery's report, since only delivery knows whether a provider
    already took the message."""
    await suite.apply_example("cart-reminder-sms.yaml")
    profile = await suite.identify("u6b", phone="+14155550112", plan="Pro")
    start = datetime.now(UTC) - timedelta(minutes=30)
    await suite.send_events(suite.event(profile, "u6b", ADDED, at=start, cart_id="c1"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    assert (await suite.confirm(send_id)).go
    assert (await _only_send(suite)).status == "sending"
    await suite.send_events(suite.event(profile, "u6b", PURCHASE, at=start + timedelta(minutes=20), cart_id="c1"))
    await suite.delivery.wait(lambda: suite.delivery.cancelled == [send_id])
    assert (await _only_send(suite)).status == "sending"  # delivery has not answered yet
    await suite.mark(send_id, status="cancelled", outcome=f"cancel_if: {PURCHASE}")
    send = await _only_send(suite)
    assert (send.status, send.outcome) == ("cancelled", f"cancel_if: {PURCHASE}")
    assert (await suite.stats("Cart reminder SMS")).cancelled == 1
