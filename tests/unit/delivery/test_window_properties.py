"""next_opening across IANA zones and the DST transitions of 2020-2030, checked against a
wall-clock oracle written independently: minutes of the week, no datetime arithmetic in zones."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, time, timedelta

from herald_services.delivery.domain import DeliveryWindow, is_open, next_opening
from hypothesis import given, settings
from hypothesis import strategies as st

ALL_ZONES = sorted(zoneinfo.available_timezones())
# Zones whose clocks move in unusual ways: at midnight (Havana, Beirut, Santiago), by 30 minutes
# (Lord Howe), by two hours (Troll), backwards in "winter" (Dublin's negative DST), around
# Ramadan (Casablanca), at odd offsets (Chatham), and the two of the examples.
AWKWARD_ZONES = [
    "Europe/Berlin", "America/New_York", "America/Havana", "Asia/Beirut", "America/Santiago",
    "Australia/Lord_Howe", "Antarctica/Troll", "Europe/Dublin", "Africa/Casablanca", "Pacific/Chatham",
    "America/Asuncion", "Asia/Gaza", "Pacific/Norfolk", "America/St_Johns", "Australia/Adelaide",
]
FIRST = datetime(2020, 1, 1, tzinfo=UTC)
LAST = datetime(2031, 1, 1, tzinfo=UTC)
MINUTES_A_DAY = 24 * 60
MINUTES_A_WEEK = 7 * MINUTES_A_DAY
MINUTE = timedelta(minutes=1)


def _offset(zone, instant):
    return instant.astimezone(zone).utcoffset()


@functools.cache
def transitions(name: str) -> tuple[datetime, ...]:
    """The instants in 2020-2030 at which the zone's UTC offset changes (weekly probes, then
    bisection: no zone changes twice within four weeks in these years)."""
    zone = zoneinfo.ZoneInfo(name)
    found, probe = [], FIRST
    while probe < LAST:
        following = probe + timedelta(days=7)
        if _offset(zone, probe) != _offset(zone, following):
            low, high = probe, following
            while high - low > MINUTE:
                middle = low + (high - low) // 2
                low, high = (middle, high) if _offset(zone, middle) == _offset(zone, probe) else (low, middle)
            found.append(high)
        probe = following
    return tuple(found)


def minute_of_week(wall: datetime) -> int:
    return wall.weekday() * MINUTES_A_DAY + wall.hour * 60 + wall.minute


@functools.cache
def minutes_inside(days: frozenset[int], start_minute: int, end_minute: int) -> bytes:
    """For each minute of the week, 1 when a window of a listed day covers it."""
    length = (end_minute - start_minute) % MINUTES_A_DAY or MINUTES_A_DAY
    inside = bytearray(MINUTES_A_WEEK)
    for day in days:
        for minute in range(day * MINUTES_A_DAY + start_minute, day * MINUTES_A_DAY + start_minute + length):
            inside[minute % MINUTES_A_WEEK] = 1
    return bytes(inside)


def inside_by_wall_clock(days, start_minute: int, end_minute: int, wall: datetime) -> bool:
    return minutes_inside(days, start_minute, end_minute)[minute_of_week(wall)] == 1


@st.composite
def cases(draw):
    name = draw(st.one_of(st.sampled_from(ALL_ZONES), st.sampled_from(AWKWARD_ZONES)))
    zone = zoneinfo.ZoneInfo(name)
    near = transitions(name)
    clock_minutes = st.integers(0, MINUTES_A_DAY - 1)
    if near and draw(st.booleans()):
        transition = draw(st.sampled_from(near))
        instant = transition + timedelta(seconds=draw(st.integers(-3 * 86_400, 3 * 86_400)))
        # Put window edges in or around the skipped or repeated wall-clock hour.
        before, after = transition + _offset(zone, transition - MINUTE), transition + _offset(zone, transition)
        low, high = sorted((before.hour * 60 + before.minute, after.hour * 60 + after.minute))
        clock_minutes = st.one_of(clock_minutes, st.integers(low - 30, high + 30).map(lambda m: m % MINUTES_A_DAY))
    else:
        instant = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)))
    if draw(st.booleans()):
        # On a minute boundary, often exactly where a window starts or ends.
        instant = instant.replace(second=0, microsecond=0)
        shown = instant.astimezone(zone)
        clock_minutes = st.one_of(clock_minutes, st.just(shown.hour * 60 + shown.minute))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start, end = draw(clock_minutes), draw(clock_minutes)
    window = DeliveryWindow(days=days, start=time(start // 60, start % 60), end=time(end // 60, end % 60))
    return zone, window, instant, (days, start, end)


def wall(instant: datetime, zone) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


@settings(max_examples=200, deadline=None)
@given(case=cases())
def test_next_opening_is_the_first_instant_the_wall_clock_shows_inside_the_window(case):
    zone, window, instant, spec = case
    days, start, _ = spec
    inside = minutes_inside(*spec)
    opened = next_opening(window, instant, zone)

    assert opened >= instant
    assert inside[minute_of_week(wall(opened, zone))]
    assert is_open(window, opened, zone)
    # No earlier instant is inside. Offsets are whole minutes in these years and transitions fall
    # on whole minutes, so the wall clock can only enter the window at a minute boundary: checking
    # the instant itself and every minute boundary up to the opening is exhaustive.
    probe = instant
    while probe < opened:
        local = probe.astimezone(zone)
        assert not inside[local.weekday() * MINUTES_A_DAY + local.hour * 60 + local.minute], f"{probe} is inside, before {opened}"
        probe = probe.replace(second=0, microsecond=0) + MINUTE
    # A later opening is where a listed day's window starts, or where the clocks jumped into one.
    if opened > instant:
        shown = wall(opened, zone)
        starts_on_a_listed_day = shown.weekday() in days and (shown.hour * 60 + shown.minute, shown.second) == (start, 0)
        clocks_jumped_here = _offset(zone, opened - timedelta(microseconds=1)) != _offset(zone, opened)
        assert starts_on_a_listed_day or clocks_jumped_here


@settings(max_examples=200, deadline=None)
@given(case=cases(), later_by=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
def test_next_opening_never_goes_backwards_and_is_stable(case, later_by):
    zone, window, instant, _ = case
    opened = next_opening(window, instant, zone)
    assert next_opening(window, opened, zone) == opened
    assert next_opening(window, instant + later_by, zone) >= opened


@st.composite
def windows_and_walls(draw):
    days = draw(st.sets(st.integers(0, 6), min_size=1))
    start, end = (time(minutes // 60, minutes % 60) for minutes in draw(st.lists(
        st.integers(0, MINUTES_A_DAY - 1), min_size=2, max_size=2)))
    wall = draw(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 1, 1)))
    if draw(st.booleans()):  # right at an edge, to the microsecond
        edge = datetime.combine(wall.date(), draw(st.sampled_from((start, end))))
        wall = edge + timedelta(microseconds=draw(st.sampled_from((-1, 0, 1))))
    return DeliveryWindow(days=frozenset(days), start=start, end=end), wall


@given(case=windows_and_walls())
def test_the_local_window_reads_as_each_day_from_its_opening_for_its_length(case):
    """contains_local and opens_after against the reading by dates: today's and yesterday's
    openings, and the first opening after the wall time among the next eight days."""
    window, wall = case
    openings = [datetime.combine(wall.date() + timedelta(days=offset), window.start) for offset in range(-1, 9)]
    openings = [opens for opens in openings if opens.weekday() in window.days]
    assert window.contains_local(wall) == any(opens <= wall < opens + window.length for opens in openings)
    assert window.opens_after(wall) == min(opens for opens in openings if opens > wall)
