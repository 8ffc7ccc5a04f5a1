"""When a send is due: delay and settle, the zone it is read in, recomputing, staleness, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_services.delivery.domain import (
    NO_TIMEZONE,
    Decision,
    DeliveryWindow,
    TimingRefused,
    choose_timezone,
    due_time,
    is_stale,
    parse_duration,
    recompute_due,
    waiting_period,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# A monday, 15:00 UTC: 10:00 in New York, 16:00 in Berlin, 00:00 (tuesday) in Tokyo.
TRIGGER = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
OFFICE_HOURS = DeliveryWindow.from_spec(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="18:00")
SETTLE = timedelta(seconds=60)


def schedule(**overrides) -> Decision:
    fields = {
        "trigger_at": TRIGGER,
        "delay": timedelta(0),
        "settle": SETTLE,
        "has_filters": False,
        "window": None,
        "user_timezone": None,
        "fallback_timezone": None,
        "default_timezone": None,
    } | overrides
    return due_time(**fields)


@pytest.mark.parametrize(
    ("delay", "has_filters", "wait"),
    [
        pytest.param(timedelta(0), False, timedelta(0), id="instant-campaign-goes-now"),
        pytest.param(timedelta(hours=4), False, timedelta(hours=4), id="delay-without-filters"),
        pytest.param(timedelta(0), True, SETTLE, id="filters-wait-the-settle-period"),
        pytest.param(timedelta(seconds=30), True, SETTLE, id="settle-outlasts-a-short-delay"),
        pytest.param(timedelta(hours=4), True, timedelta(hours=4), id="delay-outlasts-the-settle-period"),
    ],
)
def test_due_time_is_trigger_plus_delay_at_least_settle_for_filtered_campaigns(delay, has_filters, wait):
    decision = schedule(delay=delay, has_filters=has_filters)
    assert decision == Decision(ready_at=TRIGGER + wait, due_at=TRIGGER + wait)


def test_without_a_window_the_due_time_is_not_moved_and_no_zone_is_needed():
    decision = schedule(delay=timedelta(hours=10))
    assert decision.due_at == TRIGGER + timedelta(hours=10)
    assert not decision.is_suppressed
    assert decision.timezone is None


@pytest.mark.parametrize(
    ("user", "fallback", "default", "zone", "source"),
    [
        ("Asia/Tokyo", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "user"),
        (None, "America/New_York", "Europe/Berlin", "America/New_York", "fallback"),
        ("", "America/New_York", "Europe/Berlin", "America/New_York", "fallback"),
        ("Mars/Olympus_Mons", "America/New_York", "Europe/Berlin", "America/New_York", "fallback"),
        ("America", "America/New_York", "Europe/Berlin", "America/New_York", "fallback"),
        ("localtime", "America/New_York", "Europe/Berlin", "America/New_York", "fallback"),
        (None, None, "Europe/Berlin", "Europe/Berlin", "default"),
    ],
)
def test_zone_is_the_users_else_the_campaigns_fallback_else_the_workspace_default(user, fallback, default, zone, source):
    choice = choose_timezone(user, fallback, default)
    assert (choice.name, choice.source) == (zone, source)
    decision = schedule(window=OFFICE_HOURS, user_timezone=user, fallback_timezone=fallback, default_timezone=default)
    assert (decision.timezone, decision.timezone_source) == (zone, source)


@pytest.mark.parametrize(
    ("zone", "due_at"),
    [
        pytest.param("America/New_York", TRIGGER, id="inside-new-york-office-hours"),
        pytest.param("Europe/Berlin", TRIGGER, id="inside-berlin-office-hours"),
        pytest.param("Asia/Tokyo", datetime(2026, 1, 6, 0, 0, tzinfo=UTC), id="tokyo-midnight-waits-for-0900"),
    ],
)
def test_window_is_read_in_the_users_zone(zone, due_at):
    assert schedule(window=OFFICE_HOURS, user_timezone=zone).due_at == due_at


def test_window_without_any_zone_is_held_as_no_timezone_never_guessed():
    decision = schedule(window=OFFICE_HOURS, user_timezone="Not/A_Zone")
    assert decision.is_suppressed
    assert decision.suppressed == NO_TIMEZONE
    assert decision.due_at is None
    assert decision.ready_at == TRIGGER


@pytest.mark.parametrize("name", ["localtime", "Factory", "../etc/passwd", "/usr/share/zoneinfo/UTC"])
def test_this_machines_zone_or_a_path_is_never_taken_for_the_users_zone(name):
    assert schedule(window=OFFICE_HOURS, user_timezone=name).suppressed == NO_TIMEZONE


def test_cart_reminder_example_friday_afternoon_goes_out_monday_morning():
    # cart-reminder-sms.yaml: delay 4h, weekdays 09:00-18:00, fallback America/New_York.
    decision = due_time(
        trigger_at=datetime(2026, 1, 9, 21, 0, tzinfo=UTC),  # friday 16:00 EST
        delay=parse_duration("4h"),
        settle=SETTLE,
        has_filters=True,
        window=OFFICE_HOURS,
        user_timezone=None,
        fallback_timezone="America/New_York",
        default_timezone="UTC",
    )
    assert decision.ready_at == datetime(2026, 1, 10, 1, 0, tzinfo=UTC)
    assert decision.due_at == datetime(2026, 1, 12, 14, 0, tzinfo=UTC)  # monday 09:00 EST
    assert decision.timezone_source == "fallback"


def test_user_who_moves_zone_before_the_send_gets_the_new_zones_window():
    scheduled = schedule(window=OFFICE_HOURS, user_timezone="Asia/Tokyo")
    assert scheduled.due_at == datetime(2026, 1, 6, 0, 0, tzinfo=UTC)
    # The timer fires at tokyo's 09:00; the user is now in New York, where it is 19:00.
    moved = recompute_due(ready_at=scheduled.ready_at, now=scheduled.due_at, window=OFFICE_HOURS,
                          user_timezone="America/New_York", fallback_timezone=None, default_timezone=None)
    assert moved.due_at == datetime(2026, 1, 6, 14, 0, tzinfo=UTC)
    assert moved.timezone == "America/New_York"


def test_recompute_uses_a_window_already_open_in_the_new_zone_from_now():
    scheduled = schedule(window=OFFICE_HOURS, user_timezone="Asia/Tokyo")
    now = TRIGGER + timedelta(minutes=5)
    moved = recompute_due(ready_at=scheduled.ready_at, now=now, window=OFFICE_HOURS,
                          user_timezone="America/New_York", fallback_timezone=None, default_timezone=None)
    assert moved.due_at == now


def test_recompute_before_ready_matches_the_first_computation():
    scheduled = schedule(delay=timedelta(hours=3), window=OFFICE_HOURS, user_timezone="Europe/Berlin")
    again = recompute_due(ready_at=scheduled.ready_at, now=TRIGGER, window=OFFICE_HOURS,
                          user_timezone="Europe/Berlin", fallback_timezone=None, default_timezone=None)
    assert again == scheduled


def test_recompute_holds_the_send_when_the_zone_is_gone():
    scheduled = schedule(window=OFFICE_HOURS, user_timezone="Asia/Tokyo")
    held = recompute_due(ready_at=scheduled.ready_at, now=scheduled.due_at, window=OFFICE_HOURS,
                         user_timezone=None, fallback_timezone=None, default_timezone=None)
    assert held.suppressed == NO_TIMEZONE


def test_negative_delay_is_refused():
    with pytest.raises(TimingRefused) as refused:
        waiting_period(delay=timedelta(minutes=-1), settle=SETTLE, has_filters=False)
    assert refused.value.field == "delay"


def test_naive_trigger_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        schedule(trigger_at=datetime(2026, 1, 5, 15, 0))


@pytest.mark.parametrize(
    ("overdue", "stale"),
    [
        (timedelta(0), False),
        (timedelta(hours=24), False),
        (timedelta(hours=24, seconds=1), True),
        (timedelta(hours=-1), False),
    ],
)
def test_send_overdue_by_more_than_stale_after_is_stale(overdue, stale):
    due_at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert is_stale(due_at, due_at + overdue, timedelta(hours=24)) is stale


def test_stale_after_defaults_to_a_day():
    due_at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert not is_stale(due_at, due_at + timedelta(hours=23))
    assert is_stale(due_at, due_at + timedelta(hours=25))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("0m", timedelta(0)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 24h ", timedelta(hours=24)),
    ],
)
def test_durations_are_read(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "4", "h", "4x", "1m1h", "-1h", "4 h", "1.5h", "4H", None])
def test_unreadable_durations_are_refused_with_the_field(text):
    with pytest.raises(TimingRefused) as refused:
        parse_duration(text, "delay")
    assert refused.value.field == "delay"


@settings(max_examples=100, deadline=None)
@given(
    trigger_at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    settle=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=1)),
    has_filters=st.booleans(),
)
def test_due_time_never_precedes_the_wait(trigger_at, delay, settle, has_filters):
    decision = schedule(trigger_at=trigger_at, delay=delay, settle=settle, has_filters=has_filters,
                        window=OFFICE_HOURS, user_timezone="America/New_York")
    assert decision.ready_at - trigger_at == (max(delay, settle) if has_filters else delay)
    assert decision.due_at >= decision.ready_at
