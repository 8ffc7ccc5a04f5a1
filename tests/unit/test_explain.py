"""herald_common.explain: the words of every step in docs/explain.md's table, and how delivery's
steps are merged into campaign's entries (by send id, in time order, entries newest first)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from herald.campaign.v1 import campaign_pb2
from herald.delivery.v1 import delivery_pb2
from herald_common.explain import WORDS, describe_step, merge, never_entered_text, render_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "explain.md"
AT = "2026-12-03T09:14:02+00:00"


def words(step: str, outcome: str, at: str = AT, **detail) -> str:
    return describe_step({"at": at, "step": step, "outcome": outcome, "detail": detail})


def condition(property, op, value, saw, held, **more):
    return {"property": property, "op": op, "value": value, "saw": saw, "held": held, "source": "event", "group": 0,
            **more}


def test_every_step_named_in_the_docs_table_has_words_of_its_own():
    table = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    named = {name for line in table for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])}
    assert len(named) >= 25
    assert named - set(WORDS) == set()


CASES = [
    (("triggered", "received", {"event": "[Segment] Added item to cart", "event_time": "2026-12-03T09:14:01+00:00",
                                "version": 1}),
     "Triggered by `[Segment] Added item to cart` (event time 09:14:01)."),
    (("not_entered", "reentry", {"rule": "once", "last_entered_at": "2026-12-01T10:00:00+00:00"}),
     "Not entered: the re-entry rule `once` keeps the user out (last entered 2026-12-01 10:00 UTC)."),
    (("not_entered", "campaign_not_live", {"status": "paused"}), "Not entered: the campaign was paused."),
    (("not_entered", "campaign_not_live", {"status": "draft"}), "Not entered: the campaign was a draft."),
    (("event_conditions", "not_held", {"conditions": [condition("price", "gt", 45, 50, True),
                                                      condition("locale", "eq", "EU", "US", False)]}),
     "Filter `locale eq EU` did not hold: locale was `US`."),
    (("event_conditions", "held", {"conditions": [condition("price", "gt", 45, 50, True),
                                                  condition("locale", "eq", "EU", "EU", True)]}),
     "Event conditions held: `price gt 45` held: price was `50`; `locale eq EU` held: locale was `EU`."),
    (("event_conditions", "not_held", {"conditions": [condition("locale", "eq", "EU", None, False, missing=True)]}),
     "Filter `locale eq EU` did not hold: locale was missing."),
    (("entered", "scheduled", {"channel": "email", "due_at": "2026-12-03T09:15:02+00:00"}),
     "Entered: an email is due at 09:15:02."),
    (("entered", "scheduled", {"channel": "sms", "due_at": "2026-12-03T13:14:02+00:00", "delay_seconds": 14400}),
     "Entered: an SMS is due at 13:14:02 (after a delay of 4 h)."),
    (("settle", "waiting", {"seconds": 60, "until": "2026-12-03T09:15:02+00:00", "due_at": "2026-12-03T09:15:02+00:00"}),
     "Waiting 60 s (until 09:15:02) for identify calls before checking user conditions."),
    (("cancel_if", "cancelled", {"event": "[Segment] Purchase made", "event_id": "4712", "rule": 0,
                                 "match_trigger": [{"property": "cart_id", "saw": "c1", "trigger": "c1", "held": True}]}),
     "Cancelled by `[Segment] Purchase made` (event 4712): cart_id was `c1`, as on the trigger."),
    (("cancel_if", "not_matched", {"event": "[Segment] Purchase made", "event_id": "4711", "rule": 0,
                                   "match_trigger": [{"property": "cart_id", "saw": "c2", "trigger": "c1", "held": False}]}),
     "`[Segment] Purchase made` (event 4711) did not cancel it: cart_id was `c2`, not `c1` as on the trigger."),
    (("cancel_if", "not_matched", {"event": "[Segment] Purchase made", "event_id": "9", "before_trigger": True}),
     "`[Segment] Purchase made` (event 9) did not cancel it: it happened before the trigger."),
    (("cancel_if", "asked_delivery", {"event": "[Segment] Purchase made", "event_id": "9", "rule": 0}),
     "Cancel asked of delivery: `[Segment] Purchase made` (event 9) matched; the send was already confirmed, so "
     "delivery stops it unless a provider has it."),
    (("unsubscribed", "all", {"by": "attribute"}),
     "Not sent: the user is unsubscribed from every campaign (the user's `unsubscribed` attribute)."),
    (("unsubscribed", "campaign", {"by": "unsubscribe"}),
     "Not sent: the user is unsubscribed from this campaign (herald users unsubscribe)."),
    (("user_conditions", "not_held", {"version": 2, "conditions": [
        {"property": "plan", "op": "neq", "value": "Enterprise", "saw": "Enterprise", "held": False, "source": "user"}]}),
     "User conditions at confirm did not hold: `plan neq Enterprise`: plan was `Enterprise`."),
    (("user_conditions", "held", {"version": 2, "conditions": [
        {"property": "phone_number", "op": "exists", "saw": "+1415", "held": True, "source": "user"}]}),
     "User conditions at confirm held: `phone_number exists` held: phone_number was `+1415`."),
    (("no_address", "suppressed", {"channel": "email", "needs": "email"}), "Not sent: the user has no email."),
    (("no_address", "suppressed", {"channel": "push", "needs": "an apns or fcm device"}),
     "Not sent: the user has no apns or fcm device."),
    (("confirm", "go", {"addresses": 1, "kinds": ["email"]}), "Confirm said go (1 address: email)."),
    (("confirm", "go", {"addresses": 2, "kinds": ["apns", "fcm"], "variant": "emoji", "held_out": True}),
     "Confirm said go (2 addresses: apns, fcm), variant `emoji`, held out (control group)."),
    (("confirm", "suppressed", {"reason": "filters"}), "Confirm said no: the user conditions did not hold."),
    (("confirm", "suppressed", {"reason": "render_failed: undefined variable"}),
     "Confirm said no: the message could not be rendered (undefined variable)."),
    (("confirm", "hold", {"reason": "campaign_paused"}), "Confirm said hold: the campaign is paused."),
    (("goal_window", "opened", {"goal": "Purchased with coupon", "event": "[Segment] Purchase made",
                                "opens_at": AT, "closes_at": "2026-12-05T09:15:03+00:00"}),
     "Goal window `Purchased with coupon` open until 2026-12-05 09:15:03 UTC."),
    (("conversion", "converted", {"goal": "Purchased with coupon", "event": "[Segment] Purchase made",
                                  "event_id": "4713", "event_time": AT, "seconds_to_convert": 7200}),
     "Converted: goal `Purchased with coupon` reached by `[Segment] Purchase made` (event 4713), 2 h after the message."),
    (("scheduled", "scheduled", {"ready_at": "2026-12-03T09:15:02+00:00", "due_at": "2026-12-03T09:15:02+00:00"}),
     "Delivery scheduled it, ready at 09:15:02."),
    (("scheduled", "scheduled", {"ready_at": "2026-12-03T09:15:02+00:00", "due_at": "2026-12-03T09:15:02+00:00",
                                 "window": {"days": ["mon", "tue"], "start": "09:00", "end": "18:00"}}),
     "Delivery scheduled it, ready at 09:15:02 (window mon,tue 09:00–18:00)."),
    (("window", "open", {"zone": "Europe/Berlin", "zone_source": "user", "due_before": AT, "due_after": AT,
                         "window": {}}),
     "Delivery window open now in Europe/Berlin (the user's own zone)."),
    (("window", "moved", {"zone": "America/New_York", "zone_source": "fallback",
                          "due_before": "2026-12-03T03:15:00+00:00", "due_after": "2026-12-03T14:00:00+00:00",
                          "window": {}}),
     "Delivery window closed in America/New_York (the campaign's fallback zone): moved from 03:15:00 to 14:00:00 "
     "(local 09:00)."),
    (("window", "no_timezone", {"due_before": AT, "due_after": None, "window": {}}),
     "Not sent: no time zone to place the delivery window in (the user has none and the campaign no fallback)."),
    (("stale", "suppressed", {"due_at": AT, "overdue_seconds": 108000, "stale_after_seconds": 86400}),
     "Not sent: 30 h overdue, past the 24 h stale limit."),
    (("hold", "held", {"reason": "campaign_paused"}), "Held: the campaign is paused."),
    (("release", "released", {"wake_at": "2026-12-03T10:00:03+00:00"}),
     "Released (the campaign resumed): goes out at 10:00:03."),
    (("attempt", "accepted", {"provider": "smtp", "address": "email", "attempt": 1, "answer": "250 OK"}),
     "Attempt 1 through smtp: accepted (250 OK)."),
    (("attempt", "retry", {"provider": "twilio", "address": "phone", "attempt": 1, "answer": "503 Service Unavailable",
                           "retry_in_seconds": 2.1}),
     "Attempt 1 through twilio: retry in 2.1 s (503 Service Unavailable)."),
    (("attempt", "gone", {"provider": "apns", "address": "apns", "attempt": 1, "answer": "410 Unregistered"}),
     "Attempt 1 through apns: the address is gone (the device was removed) (410 Unregistered)."),
    (("sent", "sent", {"outcome": "250 OK", "accepted": 1, "addresses": 1}), "Sent."),
    (("sent", "sent", {"outcome": "1 of 2 accepted", "accepted": 1, "addresses": 2}),
     "Sent: 1 of 2 addresses accepted."),
    (("failed", "failed", {"outcome": "550 no such user", "accepted": 0, "addresses": 1}),
     "Failed: 550 no such user."),
    (("unknown", "unknown", {"outcome": "stopped during the provider call", "recovered": True}),
     "Unknown: stopped during the provider call; not resent."),
    (("cancelled", "cancelled", {"reason": "cancel_if"}), "Delivery cancelled it (cancel_if)."),
    (("global_control", "control", {"global_control": "5%"}),
     "In the workspace's global control group (5%): held out of every campaign but transactional ones."),
    (("global_control", "treatment", {"global_control": "5%"}), "Not in the workspace's global control group (5%)."),
    (("holdout", "control", {"holdout": "10%"}),
     "In the campaign's holdout (10%, control group): goes through everything but the provider call, counted for lift."),
    (("variant", "emoji", {"weight": 50, "variants": 2}), "Variant `emoji` (weight 50 of 2 variants)."),
    (("held_out", "held_out", {"sent_at": "2026-12-03T09:15:03+00:00"}),
     "Held out: not sent (control group); goal windows open from 09:15:03."),
    (("frequency_cap", "suppressed", {"rule": "any max 1 per 1d", "channel": "email", "allowed_at": None}),
     "Frequency cap `any max 1 per 1d` suppressed it."),
    (("frequency_cap", "deferred", {"rule": "any max 1 per 1d", "channel": "email",
                                    "allowed_at": "2026-12-04T09:14:02+00:00"}),
     "Frequency cap `any max 1 per 1d` deferred it to 2026-12-04 09:14:02 UTC."),
    (("frequency_cap", "passed", {"rules": ["any max 3 per 7d"], "channel": "email", "counted": False}),
     "Frequency cap `any max 3 per 7d` passed (not counted: a held-out send)."),
    (("frequency_cap", "passed", {"rules": [], "channel": "sms", "counted": True}), "No frequency cap covers sms."),
    (("quiet_hours", "moved", {"start": "22:00", "end": "08:00", "zone": "Europe/Berlin", "zone_source": "user",
                               "before": "2026-12-03T21:10:00+00:00", "after": "2026-12-04T07:00:00+00:00"}),
     "Quiet hours in Europe/Berlin moved it from 22:10 to 08:00."),
    (("quiet_hours", "clear", {"start": "22:00", "end": "08:00", "zone": "Europe/Berlin", "before": AT, "after": AT}),
     "Quiet hours 22:00–08:00 in Europe/Berlin: clear now."),
    (("quiet_hours", "no_timezone", {"start": "22:00", "end": "08:00", "before": AT, "after": AT}),
     "Not sent: no time zone to apply quiet hours in."),
]


@pytest.mark.parametrize(("step", "expected"), CASES, ids=[f"{c[0][0]}-{c[0][1]}" for c in CASES])
def test_the_words_of_each_step(step, expected):
    name, outcome, detail = step
    assert describe_step({"at": AT, "step": name, "outcome": outcome, "detail": detail}) == expected


def test_every_step_kind_in_the_words_is_pinned_by_a_case():
    assert {case[0][0] for case in CASES} == set(WORDS)


def test_a_step_with_no_words_yet_still_says_its_name_outcome_and_detail():
    assert words("new_rule", "suppressed", limit=3) == 'new_rule: suppressed ({"limit": 3}).'


def _ts(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text).astimezone(UTC))
    return stamp


def test_delivery_steps_join_their_send_in_time_order_and_goal_steps_follow_delivery_on_a_tie():
    campaign = campaign_pb2.ExplainResponse(user_id="ada", profile_id="p1", profile_ids=["p1"])
    newer = campaign.entries.add(campaign="Coupon", trigger_event_id="e2", send_id="", status="not_entered",
                                 triggered_at=_ts("2026-12-03T10:00:00+00:00"))
    newer.steps.add(at=_ts("2026-12-03T10:00:00+00:00"), step="triggered", outcome="received",
                    detail_json=orjson.dumps({"event": "x"}))
    older = campaign.entries.add(campaign="Coupon", trigger_event_id="e1", send_id="s1", status="sent",
                                 triggered_at=_ts("2026-12-03T09:00:00+00:00"))
    for at, name in (("09:00:00", "entered"), ("09:01:00", "confirm"), ("09:01:01", "goal_window")):
        older.steps.add(at=_ts(f"2026-12-03T{at}+00:00"), step=name, outcome="x", send_id="s1")
    delivery = delivery_pb2.ExplainResponse()
    for at, name, send in (("09:00:00", "scheduled", "s1"), ("09:01:01", "sent", "s1"), ("09:01:00", "sent", "s9")):
        delivery.steps.add(at=_ts(f"2026-12-03T{at}+00:00"), step=name, outcome="x", send_id=send)
    document = merge(campaign, delivery)
    assert document["user_id"] == "ada"
    assert [e["trigger_event_id"] for e in document["entries"]] == ["e2", "e1"]
    assert [s["step"] for s in document["entries"][1]["steps"]] == ["entered", "scheduled", "confirm", "sent",
                                                                     "goal_window"]
    first = document["entries"][0]
    assert first["send_id"] is None and first["status"] == "not_entered"
    assert first["steps"] == [{"at": "2026-12-03T10:00:00+00:00", "step": "triggered", "outcome": "received",
                               "detail": {"event": "x"}}]
    text = render_text(document, "ada")
    assert text.splitlines()[0] == "Coupon · triggered by event e2 at 2026-12-03 10:00:00 UTC · not_entered"
    assert "  10:00:00  Triggered by `x`." in text


def test_never_entered_names_the_trigger_event_and_when_the_user_last_did_it():
    never = {"campaign": "Coupon", "trigger_event": "[Segment] Added item to cart", "last_trigger_at": None}
    assert never_entered_text(never, "ada") == (
        "'ada' never entered 'Coupon': the user never did its trigger event `[Segment] Added item to cart`.")
    last = dict(never, last_trigger_at="2026-11-30T08:00:00+00:00")
    assert never_entered_text(last, "ada").startswith(
        "'ada' never entered 'Coupon': the user last did its trigger event `[Segment] Added item to cart` at "
        "2026-11-30 08:00:00 UTC")
