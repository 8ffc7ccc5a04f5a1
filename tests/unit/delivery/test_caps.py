"""Frequency caps and quiet hours as delivery applies them: rolling windows, calendar days in the
user's zone across midnight and DST, the first moment a blocked send may go, quiet hours' end."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from herald_services.delivery.caps import CapRule, QuietHours, Slot, check_caps, lookback, next_midnight
from hypothesis import given, settings
from hypothesis import strategies as st

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")  # its clocks skip midnight in spring
ZONES = [BERLIN, NEW_YORK, SANTIAGO, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kolkata"), UTC]
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)).map(lambda d: d.replace(tzinfo=UTC))


def slots(*hours_ago: float, channel: str = "email") -> list[Slot]:
    return [Slot(channel, NOW - timedelta(hours=h)) for h in hours_ago]


def test_a_rolling_cap_blocks_at_max_and_frees_when_the_oldest_needed_send_leaves_the_window():
    rule = CapRule("any", 2, timedelta(days=1))
    assert check_caps([rule], channel="email", slots=slots(20), now=NOW, zone=None).allowed
    verdict = check_caps([rule], channel="email", slots=slots(20, 3, 30), now=NOW, zone=None)
    assert not verdict.allowed and verdict.rule == rule
    # Two sends in the last day (20 h and 3 h ago): one must leave, the older, 4 hours from now.
    assert verdict.allowed_at == NOW + timedelta(hours=4)
    assert check_caps([rule], channel="email", slots=slots(20, 3), now=verdict.allowed_at, zone=None).allowed


def test_a_channel_cap_counts_and_holds_back_only_its_channel():
    rule = CapRule("sms", 1, timedelta(hours=1))
    texted = slots(0.5, channel="sms")
    assert not check_caps([rule], channel="sms", slots=texted, now=NOW, zone=None).allowed
    assert check_caps([rule], channel="email", slots=texted, now=NOW, zone=None).allowed
    assert check_caps([rule], channel="sms", slots=slots(0.5, channel="email"), now=NOW, zone=None).allowed


def test_every_rule_applies_the_first_broken_is_named_and_the_wait_is_the_longest():
    daily, weekly = CapRule("any", 3, timedelta(days=1)), CapRule("email", 1, timedelta(days=7))
    verdict = check_caps([daily, weekly], channel="email", slots=slots(1, 2, 3, channel="email"), now=NOW, zone=None)
    assert verdict.rule == daily and verdict.allowed_at == NOW + timedelta(days=7) - timedelta(hours=1)
    assert daily.describe() == "any max 3 per 1d" and weekly.describe() == "email max 1 per 7d"
    assert CapRule("sms", 1, None).describe() == "sms max 1 per calendar_day"
    assert lookback([daily, weekly]) == timedelta(days=7)


def test_a_calendar_day_is_the_users_and_frees_at_their_midnight():
    rule = CapRule("any", 1, None)
    now = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, 17:30 in New York
    sent = [Slot("email", datetime(2026, 3, 2, 5, 0, tzinfo=UTC))]  # 06:00 Berlin; 00:00 New York, the same day in both
    berlin = check_caps([rule], channel="email", slots=sent, now=now, zone=BERLIN)
    assert not berlin.allowed and berlin.allowed_at == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    new_york = check_caps([rule], channel="email", slots=sent, now=now, zone=NEW_YORK)
    assert new_york.allowed_at == datetime(2026, 3, 3, 5, 0, tzinfo=UTC)
    # Just after Berlin's midnight the send of 06:00 is yesterday's.
    assert check_caps([rule], channel="email", slots=sent, now=berlin.allowed_at, zone=BERLIN).allowed
    # A send at 23:59 and one at 00:01 local are on two days: both go.
    late = [Slot("email", datetime(2026, 3, 2, 22, 59, tzinfo=UTC))]
    assert check_caps([rule], channel="email", slots=late, now=datetime(2026, 3, 2, 23, 1, tzinfo=UTC), zone=BERLIN).allowed


def test_calendar_days_across_dst_are_the_local_days_of_23_and_25_hours():
    rule = CapRule("any", 1, None)
    # Berlin springs forward on 2026-03-29: that day lasts 23 hours (22:00 UTC on the 28th to 22:00 on the 29th).
    sent = [Slot("email", datetime(2026, 3, 28, 23, 30, tzinfo=UTC))]
    verdict = check_caps([rule], channel="email", slots=sent, now=datetime(2026, 3, 29, 21, 0, tzinfo=UTC), zone=BERLIN)
    assert verdict.allowed_at == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    # It falls back on 2026-10-25: that day lasts 25 hours (22:00 UTC on the 24th to 23:00 on the 25th).
    sent = [Slot("email", datetime(2026, 10, 24, 22, 30, tzinfo=UTC))]
    verdict = check_caps([rule], channel="email", slots=sent, now=datetime(2026, 10, 25, 22, 30, tzinfo=UTC), zone=BERLIN)
    assert not verdict.allowed and verdict.allowed_at == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)


def test_a_rolling_day_counts_elapsed_hours_not_the_wall_clock_across_dst():
    rule = CapRule("any", 1, timedelta(days=1))
    sent = [Slot("email", datetime(2026, 3, 28, 12, 0, tzinfo=UTC))]  # 13:00 Berlin, before the spring-forward night
    verdict = check_caps([rule], channel="email", slots=sent, now=datetime(2026, 3, 29, 9, 0, tzinfo=UTC), zone=BERLIN)
    assert verdict.allowed_at == datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # 14:00 Berlin: 24 hours, not 24 wall-clock ones


def test_a_midnight_the_clocks_skip_starts_the_day_after_the_gap():
    # Santiago went from 23:59:59 on 2022-09-10 straight to 01:00 on the 11th.
    assert next_midnight(datetime(2022, 9, 10, 12, 0, tzinfo=UTC), SANTIAGO) == datetime(2022, 9, 11, 4, 0, tzinfo=UTC)
    assert next_midnight(datetime(2022, 9, 10, 12, 0, tzinfo=UTC), SANTIAGO).astimezone(SANTIAGO).hour == 1


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(ZONES))
def test_next_midnight_is_the_first_instant_of_the_next_local_day(instant, zone):
    midnight = next_midnight(instant, zone)
    today = instant.astimezone(zone).date()
    assert midnight > instant
    assert midnight.astimezone(zone).date() > today
    assert (midnight - timedelta(seconds=1)).astimezone(zone).date() == today
    assert midnight - instant <= timedelta(hours=26)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=200), max_size=12), st.integers(1, 4),
       st.sampled_from([timedelta(hours=1), timedelta(days=1), timedelta(days=7), None]), st.sampled_from(ZONES))
def test_a_blocked_send_is_allowed_exactly_from_the_moment_it_is_told(hours_ago, most, per, zone):
    rule = CapRule("any", most, per)
    sent = slots(*hours_ago)
    verdict = check_caps([rule], channel="email", slots=sent, now=NOW, zone=zone)
    if verdict.allowed:
        return
    assert verdict.allowed_at > NOW
    assert check_caps([rule], channel="email", slots=sent, now=verdict.allowed_at, zone=zone).allowed
    # A second earlier, but never before NOW: the slots are those sent by NOW, and one sent at NOW
    # itself does not exist yet a second before it (hypothesis found hours_ago=[0, 0.99999]).
    just_before = max(verdict.allowed_at - timedelta(seconds=1), NOW)
    assert not check_caps([rule], channel="email", slots=sent, now=just_before, zone=zone).allowed


QUIET = QuietHours(start=time(21, 0), end=time(8, 0))


def test_quiet_hours_move_a_send_to_their_end_in_the_users_zone():
    late = datetime(2026, 3, 2, 22, 10, tzinfo=UTC)  # 23:10 in Berlin
    assert QUIET.end_after(late, BERLIN) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 Berlin
    assert QUIET.end_after(late, NEW_YORK) == late  # 17:10 in New York: not quiet
    early = datetime(2026, 3, 3, 6, 59, tzinfo=UTC)  # 07:59 Berlin
    assert QUIET.end_after(early, BERLIN) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert QUIET.end_after(datetime(2026, 3, 3, 7, 0, tzinfo=UTC), BERLIN) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert QUIET.end_after(datetime(2026, 3, 3, 19, 59, tzinfo=UTC), BERLIN) == datetime(2026, 3, 3, 19, 59, tzinfo=UTC)


def test_quiet_hours_end_at_local_eight_on_the_nights_the_clocks_change():
    # Spring forward (Berlin 2026-03-29 02:00 -> 03:00): the night is an hour shorter, it still ends at 08:00 CEST.
    assert QUIET.end_after(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), BERLIN) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    # Fall back (2026-10-25 03:00 -> 02:00): it ends at 08:00 CET.
    assert QUIET.end_after(datetime(2026, 10, 24, 23, 0, tzinfo=UTC), BERLIN) == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(ZONES), st.integers(0, 23), st.integers(0, 23))
def test_quiet_hours_end_is_never_inside_them_and_only_a_send_inside_them_moves(instant, zone, start_hour, end_hour):
    if start_hour == end_hour:
        return
    quiet = QuietHours(start=time(start_hour), end=time(end_hour))

    def inside(at: datetime) -> bool:
        local = at.astimezone(zone).time()
        if quiet.start < quiet.end:
            return quiet.start <= local < quiet.end
        return local >= quiet.start or local < quiet.end

    end = quiet.end_after(instant, zone)
    assert end >= instant and not inside(end)
    if end > instant:
        assert inside(instant) and end - instant <= timedelta(hours=24)
