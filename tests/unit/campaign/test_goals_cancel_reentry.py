"""Goal and cancel matching, goal windows, re-entry, and delivery windows that cross midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_services.campaign.domain import (
    CancelRule,
    DeliveryWindow,
    Goal,
    Reentry,
    cancel_matches,
    goal_matches,
    goal_window_closes,
    matches_trigger,
    reentry_allows,
    within_goal_window,
)
from herald_services.campaign.filters import Condition
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PURCHASE = "[Segment] Purchase made"
COUPON_GOAL = Goal(name="Purchased with coupon", event=PURCHASE, within=timedelta(days=2), primary=True,
                   where=(Condition("Coupon used", "eq", True),))
CART_GOAL = Goal(name="Checked out the same cart", event=PURCHASE, within=timedelta(days=3), match_trigger=("cart_id",))


def goal(rule, name=PURCHASE, properties=None, trigger=None):
    return goal_matches(rule, event_name=name, properties=properties or {}, trigger_properties=trigger or {}, now=NOW)


def test_goal_needs_its_event_name():
    assert goal(COUPON_GOAL, properties={"Coupon used": True})
    assert not goal(COUPON_GOAL, name="[Segment] Added item to cart", properties={"Coupon used": True})
    assert not goal(COUPON_GOAL, name="[Segment] purchase made", properties={"Coupon used": True})


@pytest.mark.parametrize(("properties", "expected"), [
    ({"Coupon used": True}, True),
    ({"Coupon used": "true"}, True),
    ({"Coupon used": False}, False),
    ({}, False),
    ({"coupon used": True}, False),
])
def test_goal_where_conditions_hold_on_the_goal_event(properties, expected):
    assert goal(COUPON_GOAL, properties=properties) is expected


@pytest.mark.parametrize(("properties", "trigger", "expected"), [
    ({"cart_id": "c1"}, {"cart_id": "c1"}, True),
    ({"cart_id": 17}, {"cart_id": "17"}, True),  # typed, as eq
    ({"cart_id": "c2"}, {"cart_id": "c1"}, False),
    ({}, {"cart_id": "c1"}, False),  # missing on the goal event
    ({"cart_id": "c1"}, {}, False),  # missing on the trigger event
    ({"cart_id": None}, {"cart_id": None}, False),  # null is missing on both sides
    ({}, {}, False),
])
def test_goal_match_trigger_compares_with_the_trigger_event(properties, trigger, expected):
    assert goal(CART_GOAL, properties=properties, trigger=trigger) is expected


def test_match_trigger_needs_every_named_property():
    names = ("cart_id", "store")
    assert matches_trigger(names, {"cart_id": 1, "store": "A"}, {"cart_id": 1, "store": "A"})
    assert not matches_trigger(names, {"cart_id": 1, "store": "A"}, {"cart_id": 1, "store": "B"})
    assert matches_trigger((), {}, {})


def test_match_trigger_reads_dotted_paths():
    assert matches_trigger(("cart.id",), {"cart": {"id": 9}}, {"cart.id": 9})


def test_a_goal_without_conditions_matches_any_event_of_its_name():
    bare = Goal(name="Updated card", event="[Segment] Payment Method Updated", within=timedelta(days=2))
    assert goal(bare, name="[Segment] Payment Method Updated")


def test_cancel_rules_match_like_goals():
    rule = CancelRule(event=PURCHASE, match_trigger=("cart_id",))
    assert cancel_matches(rule, event_name=PURCHASE, properties={"cart_id": "c1"}, trigger_properties={"cart_id": "c1"}, now=NOW)
    assert not cancel_matches(rule, event_name=PURCHASE, properties={"cart_id": "c2"}, trigger_properties={"cart_id": "c1"}, now=NOW)
    assert not cancel_matches(rule, event_name="[Segment] Viewed", properties={"cart_id": "c1"},
                              trigger_properties={"cart_id": "c1"}, now=NOW)


def test_cancel_where_conditions_and_match_trigger_must_both_hold():
    rule = CancelRule(event=PURCHASE, where=(Condition("total", "gte", 10),), match_trigger=("cart_id",))
    same_cart = {"cart_id": "c1"}
    assert cancel_matches(rule, event_name=PURCHASE, properties={"cart_id": "c1", "total": "12.5"},
                          trigger_properties=same_cart, now=NOW)
    assert not cancel_matches(rule, event_name=PURCHASE, properties={"cart_id": "c1", "total": 5},
                              trigger_properties=same_cart, now=NOW)


def test_where_conditions_with_relative_times_use_the_given_now():
    rule = CancelRule(event=PURCHASE, where=(Condition("at", "after", "-1h"),))
    recent = {"at": (NOW - timedelta(minutes=30)).isoformat()}
    assert cancel_matches(rule, event_name=PURCHASE, properties=recent, trigger_properties={}, now=NOW)
    assert not cancel_matches(rule, event_name=PURCHASE, properties=recent, trigger_properties={}, now=NOW + timedelta(hours=1))


# ---- goal windows -------------------------------------------------------------------------

SENT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("event_at", "expected"), [
    (SENT, True),  # both ends included
    (SENT + timedelta(days=2), True),
    (SENT + timedelta(days=2, microseconds=1), False),
    (SENT + timedelta(hours=5), True),
    (SENT - timedelta(seconds=1), False),  # before the message was sent
])
def test_goal_window_runs_from_sent_at_for_within(event_at, expected):
    assert within_goal_window(COUPON_GOAL, sent_at=SENT, event_at=event_at) is expected


def test_goal_window_closes_within_after_sent_at():
    assert goal_window_closes(COUPON_GOAL, SENT) == SENT + timedelta(days=2)


# ---- re-entry -----------------------------------------------------------------------------


def test_every_time_always_allows():
    assert reentry_allows(Reentry("every_time"), previous=[NOW - timedelta(seconds=1)], now=NOW)
    assert reentry_allows(Reentry(), previous=[], now=NOW)


def test_once_allows_only_the_first_time():
    assert reentry_allows(Reentry("once"), previous=[], now=NOW)
    assert not reentry_allows(Reentry("once"), previous=[NOW - timedelta(days=400)], now=NOW)
    assert not reentry_allows(Reentry("once"), previous=iter([NOW]), now=NOW)


@pytest.mark.parametrize(("ago", "expected"), [
    (None, True),
    (timedelta(hours=23, minutes=59), False),
    (timedelta(days=1), True),  # exactly the period is enough
    (timedelta(days=3), True),
])
def test_once_per_waits_a_period_after_the_last_entry(ago, expected):
    previous = [] if ago is None else [NOW - timedelta(days=30), NOW - ago]
    assert reentry_allows(Reentry("once_per", timedelta(days=1)), previous=previous, now=NOW) is expected


@given(ages=st.lists(st.integers(min_value=0, max_value=10 * 86_400), max_size=6), period=st.integers(min_value=1, max_value=5 * 86_400))
def test_once_per_depends_only_on_the_most_recent_entry(ages, period):
    previous = [NOW - timedelta(seconds=age) for age in ages]
    allowed = reentry_allows(Reentry("once_per", timedelta(seconds=period)), previous=previous, now=NOW)
    assert allowed is (not ages or min(ages) >= period)
    assert reentry_allows(Reentry("once"), previous=previous, now=NOW) is (not ages)


# ---- delivery windows ---------------------------------------------------------------------

WEEKDAYS_9_TO_6 = DeliveryWindow(days=("mon", "tue", "wed", "thu", "fri"), start=9 * 60, end=18 * 60)
FRIDAY_NIGHT = DeliveryWindow(days=("fri",), start=22 * 60, end=6 * 60)
# 2026-01-05 is a Monday; 2026-01-09 a Friday.


@pytest.mark.parametrize(("local", "expected"), [
    (datetime(2026, 1, 5, 9, 0), True),
    (datetime(2026, 1, 5, 8, 59), False),
    (datetime(2026, 1, 5, 17, 59), True),
    (datetime(2026, 1, 5, 18, 0), False),  # the end is not included
    (datetime(2026, 1, 10, 12, 0), False),  # Saturday
])
def test_a_daytime_window(local, expected):
    assert WEEKDAYS_9_TO_6.is_open_at(local) is expected


@pytest.mark.parametrize(("local", "expected"), [
    (datetime(2026, 1, 9, 21, 59), False),
    (datetime(2026, 1, 9, 22, 0), True),  # opens Friday evening
    (datetime(2026, 1, 10, 3, 0), True),  # still open early Saturday
    (datetime(2026, 1, 10, 6, 0), False),
    (datetime(2026, 1, 10, 22, 30), False),  # Saturday evening is not listed
    (datetime(2026, 1, 9, 3, 0), False),  # Friday early morning belongs to Thursday's window
])
def test_a_window_that_crosses_midnight_belongs_to_the_day_it_opens(local, expected):
    assert FRIDAY_NIGHT.is_open_at(local) is expected


def test_a_window_to_24_00_covers_the_whole_day():
    whole_day = DeliveryWindow(days=("mon",), start=0, end=24 * 60)
    assert whole_day.is_open_at(datetime(2026, 1, 5, 0, 0))
    assert whole_day.is_open_at(datetime(2026, 1, 5, 23, 59))
    assert not whole_day.is_open_at(datetime(2026, 1, 6, 0, 0))
