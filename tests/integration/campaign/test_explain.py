"""campaign's Explain on SQLite and PostgreSQL: a user's entries newest first, each with every step
campaign took (triggered, event conditions, entered, settle, not entered, cancel_if, unsubscribed,
user conditions, no address, confirm, goal window, conversion) and its send's status; filters by
campaign and trigger event; the user's steps forgotten with a privacy deletion and pruned after
the retention by the service's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import orjson
import pytest
from herald.campaign.v1 import campaign_pb2
from herald_common.clock import FakeClock

from tests.integration.conftest import WORKSPACE

pytestmark = pytest.mark.asyncio

ADDED = "[Segment] Added item to cart"
PURCHASE = "[Segment] Purchase made"
COUPON = "Coupon Campaign - Europe"
CART_SMS = "Cart reminder SMS"


async def explain(suite, user: str, **kwargs) -> campaign_pb2.ExplainResponse:
    return await suite.campaign.explain(WORKSPACE, user, **kwargs)


def names(entry) -> list[tuple[str, str]]:
    return [(step.step, step.outcome) for step in entry.steps]


def detail(entry, name: str) -> dict:
    return next(orjson.loads(step.detail_json) for step in entry.steps if step.step == name)


async def test_an_entry_that_was_sent_and_converted_and_one_kept_out_come_back_newest_first(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    profile = await suite.identify("ada", email="ada@example.com", first_name="Ada")
    now = datetime.now(UTC)
    await suite.send_events(suite.event(profile, "ada", ADDED, at=now, event_id="e1", price=50, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    assert (await suite.confirm(send_id)).go
    await suite.mark(send_id, at=now + timedelta(minutes=1))
    await suite.send_events(suite.event(profile, "ada", PURCHASE, at=now + timedelta(hours=2), event_id="e2",
                                        properties={"Coupon used": True}))
    await suite.send_events(suite.event(profile, "ada", ADDED, at=now + timedelta(hours=3), event_id="e3", price=50,
                                        locale="US"))

    found = await explain(suite, "ada")
    assert found.user_id == "ada" and list(found.profile_ids) == [profile]
    assert [e.trigger_event_id for e in found.entries] == ["e3", "e1"]
    kept_out, sent = found.entries
    assert (kept_out.campaign, kept_out.status, kept_out.send_id) == (COUPON, "not_entered", "")
    assert names(kept_out) == [("triggered", "received"), ("event_conditions", "not_held")]
    failed = [c for c in detail(kept_out, "event_conditions")["conditions"] if not c["held"]]
    assert failed == [{"property": "locale", "op": "eq", "value": "EU", "saw": "US", "held": False, "source": "event",
                       "group": 0}]
    assert (sent.status, sent.send_id) == ("sent", send_id)
    assert names(sent) == [("triggered", "received"), ("event_conditions", "held"), ("entered", "scheduled"),
                           ("settle", "waiting"), ("user_conditions", "held"), ("confirm", "go"),
                           ("goal_window", "opened"), ("conversion", "converted")]
    assert all(step.send_id == send_id for step in sent.steps[2:])
    assert detail(sent, "confirm") == {"addresses": 1, "kinds": ["email"]}
    assert detail(sent, "conversion")["event_id"] == "e2" and detail(sent, "goal_window")["goal"] == "Purchased with coupon"
    times = [step.at.ToDatetime() for entry in found.entries for step in entry.steps]
    assert times[:2] == sorted(times[:2]) and times[2:] == sorted(times[2:])

    assert [e.trigger_event_id for e in (await explain(suite, "ada", limit=1)).entries] == ["e3"]
    only = await explain(suite, "ada", trigger_event_id="e1")
    assert [e.trigger_event_id for e in only.entries] == ["e1"]
    by_campaign = await explain(suite, "ada", campaign=COUPON)
    assert len(by_campaign.entries) == 2 and by_campaign.trigger_event == ADDED and by_campaign.campaign_id


async def test_cancel_if_the_reentry_rule_and_a_paused_campaign_are_explained(suite):
    await suite.apply_example("cart-reminder-sms.yaml")
    profile = await suite.identify("bo", phone="+14155550102")
    now = datetime.now(UTC)
    await suite.send_events(suite.event(profile, "bo", ADDED, at=now, event_id="t1", cart_id="c1"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    await suite.send_events(suite.event(profile, "bo", PURCHASE, at=now + timedelta(minutes=1), event_id="p2",
                                        cart_id="c2"))
    await suite.send_events(suite.event(profile, "bo", PURCHASE, at=now + timedelta(minutes=2), event_id="p1",
                                        cart_id="c1"))
    await suite.send_events(suite.event(profile, "bo", ADDED, at=now + timedelta(minutes=3), event_id="t2",
                                        cart_id="c3"))
    await suite.stub.PauseCampaign(campaign_pb2.SetCampaignStatusRequest(workspace_id=WORKSPACE, name=CART_SMS))
    await suite.send_events(suite.event(profile, "bo", ADDED, at=now + timedelta(minutes=4), event_id="t3",
                                        cart_id="c4"))

    paused, again, cancelled = (await explain(suite, "bo")).entries
    assert names(paused) == [("triggered", "received"), ("not_entered", "campaign_not_live")]
    assert detail(paused, "not_entered") == {"status": "paused"}
    assert names(again)[-1] == ("not_entered", "reentry") and again.status == "not_entered"
    assert detail(again, "not_entered")["rule"] == "once_per 1d"
    assert cancelled.status == "cancelled"
    cancels = [(s.outcome, orjson.loads(s.detail_json)) for s in cancelled.steps if s.step == "cancel_if"]
    assert [(outcome, d["event_id"]) for outcome, d in cancels] == [("not_matched", "p2"), ("cancelled", "p1")]
    assert cancels[1][1]["match_trigger"] == [{"property": "cart_id", "saw": "c1", "trigger": "c1", "held": True}]


async def test_confirm_explains_no_address_and_an_unsubscribe(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    no_email = await suite.identify("cy", first_name="Cy")
    gone = await suite.identify("di", email="di@example.com")
    await suite.stub.Unsubscribe(campaign_pb2.UnsubscribeRequest(workspace_id=WORKSPACE, id="di", campaign=COUPON))
    for profile, user in ((no_email, "cy"), (gone, "di")):
        await suite.send_events(suite.event(profile, user, ADDED, price=60, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 2)
    for send_id in list(suite.delivery.scheduled):
        assert not (await suite.confirm(send_id)).go
    [cy] = (await explain(suite, "cy")).entries
    assert names(cy)[-2:] == [("no_address", "suppressed"), ("confirm", "suppressed")]
    assert detail(cy, "no_address") == {"channel": "email", "needs": "email"} and cy.status == "suppressed"
    [di] = (await explain(suite, "di")).entries
    assert names(di)[-2:] == [("unsubscribed", "campaign"), ("confirm", "suppressed")]
    assert detail(di, "confirm") == {"reason": "unsubscribed"}


async def test_an_unknown_user_or_campaign_is_not_found_by_name(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    await suite.identify("eve")
    for kwargs, named in (({}, "'nobody'"), ({"campaign": "No such campaign"}, "'No such campaign'")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await explain(suite, "eve" if kwargs else "nobody", **kwargs)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND and named in refused.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await explain(suite, "")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in refused.value.details()


async def test_forget_profiles_removes_the_users_steps_and_the_prune_follows_the_services_clock(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    fay = await suite.identify("fay", email="fay@example.com")
    gus = await suite.identify("gus", email="gus@example.com")
    for profile, user in ((fay, "fay"), (gus, "gus")):
        await suite.send_events(suite.event(profile, user, ADDED, price=50, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 2)
    assert await suite.campaign.forget_profiles(WORKSPACE, [fay]) == 1
    assert (await explain(suite, "fay")).entries == []
    assert len((await explain(suite, "gus")).entries) == 1

    servicer = suite.campaign_service.extras["servicer"]
    clock = FakeClock(datetime.now(UTC) + timedelta(days=29))
    servicer.clock = clock
    assert await servicer.prune_steps() == 0  # HERALD_EXPLAIN_RETENTION is 30d: not old enough yet
    clock.advance(timedelta(days=2))
    assert await servicer.prune_steps() == 1
    assert (await explain(suite, "gus")).entries == []


async def test_the_newest_entries_are_read_whole_without_reading_the_users_whole_record(suite, monkeypatch):
    from herald_services.campaign import explain as explaining

    await suite.apply_example("coupon-campaign-europe.yaml")
    profile = await suite.identify("hal", email="hal@example.com")
    start = datetime.now(UTC)
    for number in range(6):
        await suite.send_events(suite.event(profile, "hal", ADDED, at=start + timedelta(minutes=number),
                                            event_id=f"h{number}", price=50, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 6)
    sends = {e.trigger_event_id: e.send_id for e in (await explain(suite, "hal")).entries}
    assert (await suite.confirm(sends["h0"])).go  # the oldest entry gets a step after every trigger
    read: list[int] = []
    pages = explaining.steps_newest_first

    def counted(*args, **kwargs):
        for page in pages(*args, **{**kwargs, "page": 2}):
            read.append(len({(step.at, step.seq // 1000) for step in page}))  # rows
            yield page

    monkeypatch.setattr(explaining, "steps_newest_first", counted)
    newest = await explain(suite, "hal", limit=2)
    assert [e.trigger_event_id for e in newest.entries] == ["h5", "h4"]
    assert all(e.steps[0].step == "triggered" and e.steps[-1].step == "settle" for e in newest.entries)
    assert sum(read) == 4  # of the user's 7 rows (6 triggers, h0's confirm): down to h3's trigger
    every = await explain(suite, "hal", limit=10)
    assert [e.trigger_event_id for e in every.entries] == [f"h{n}" for n in range(5, -1, -1)]
    assert every.entries[-1].steps[-1].step == "confirm"
