"""Delivery windows read on the user's wall clock: weekdays, overnight windows, edges and DST."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from herald_services.delivery.domain import DeliveryWindow, TimingRefused, is_open, next_opening

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HAVANA = ZoneInfo("America/Havana")

WEEKDAYS_9_TO_6 = DeliveryWindow.from_spec(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="18:00")
FRIDAY_NIGHT = DeliveryWindow.from_spec(days=["fri"], start="22:00", end="06:00")
WHOLE_SATURDAY = DeliveryWindow.from_spec(days=["sat"], start="00:00", end="00:00")
MONDAY_FROM_9_FOR_24H = DeliveryWindow.from_spec(days=["mon"], start="09:00", end="09:00")
# Every day: around the 2026 DST transitions (Berlin 02:00-03:00, New York 01:00-02:00 repeated).
FROM_0230 = DeliveryWindow.from_spec(days=None, start="02:30", end="05:00")
FROM_0130 = DeliveryWindow.from_spec(days=None, start="01:30", end="05:00")
UNTIL_0130 = DeliveryWindow.from_spec(days=None, start="00:00", end="01:30")
UNTIL_0230 = DeliveryWindow.from_spec(days=None, start="01:00", end="02:30")
INSIDE_GAP = DeliveryWindow.from_spec(days=None, start="02:10", end="02:40")
SMALL_HOURS = DeliveryWindow.from_spec(days=None, start="00:00", end="06:00")


def local(zone: ZoneInfo, text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# 2026-01-05 is a monday; New York is on EST (UTC-5) throughout January.
@pytest.mark.parametrize(
    ("window", "instant", "expected"),
    [
        pytest.param(WEEKDAYS_9_TO_6, "2026-01-05 10:00", "2026-01-05 10:00", id="inside-returns-itself"),
        pytest.param(WEEKDAYS_9_TO_6, "2026-01-05 08:59", "2026-01-05 09:00", id="before-opening-same-day"),
        pytest.param(WEEKDAYS_9_TO_6, "2026-01-05 09:00", "2026-01-05 09:00", id="at-start-is-inside"),
        pytest.param(WEEKDAYS_9_TO_6, "2026-01-05 17:59:59", "2026-01-05 17:59:59", id="last-second-is-inside"),
        pytest.param(WEEKDAYS_9_TO_6, "2026-01-05 18:00", "2026-01-06 09:00", id="at-end-is-closed"),
        pytest.param(WEEKDAYS_9_TO_6, "2026-01-09 18:30", "2026-01-12 09:00", id="friday-evening-skips-weekend"),
        pytest.param(WEEKDAYS_9_TO_6, "2026-01-10 12:00", "2026-01-12 09:00", id="saturday-waits-for-monday"),
        pytest.param(FRIDAY_NIGHT, "2026-01-09 23:00", "2026-01-09 23:00", id="overnight-inside-before-midnight"),
        pytest.param(FRIDAY_NIGHT, "2026-01-10 03:00", "2026-01-10 03:00", id="saturday-small-hours-belong-to-friday"),
        pytest.param(FRIDAY_NIGHT, "2026-01-10 06:00", "2026-01-16 22:00", id="overnight-end-is-closed"),
        pytest.param(FRIDAY_NIGHT, "2026-01-08 23:00", "2026-01-09 22:00", id="thursday-night-is-not-listed"),
        pytest.param(FRIDAY_NIGHT, "2026-01-09 05:00", "2026-01-09 22:00", id="friday-small-hours-belong-to-thursday"),
        pytest.param(WHOLE_SATURDAY, "2026-01-09 23:59", "2026-01-10 00:00", id="whole-day-opens-at-midnight"),
        pytest.param(WHOLE_SATURDAY, "2026-01-10 23:59:59", "2026-01-10 23:59:59", id="whole-day-includes-last-second"),
        pytest.param(WHOLE_SATURDAY, "2026-01-11 00:00", "2026-01-17 00:00", id="whole-day-ends-at-midnight"),
        pytest.param(MONDAY_FROM_9_FOR_24H, "2026-01-06 08:59", "2026-01-06 08:59", id="start-equals-end-runs-24h"),
        pytest.param(MONDAY_FROM_9_FOR_24H, "2026-01-06 09:00", "2026-01-12 09:00", id="start-equals-end-closes-after-24h"),
        pytest.param(None, "2026-01-10 03:00", "2026-01-10 03:00", id="no-window-is-always-open"),
    ],
)
def test_next_opening_on_ordinary_days(window, instant, expected):
    assert next_opening(window, local(NEW_YORK, instant), NEW_YORK) == local(NEW_YORK, expected).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "window", "instant", "expected_utc"),
    [
        # Spring forward: 02:30 does not exist; the window opens when the clocks reach 03:00.
        pytest.param(BERLIN, FROM_0230, local(BERLIN, "2026-03-29 00:00"), "2026-03-29 01:00", id="berlin-gap-opens-0300-cest"),
        pytest.param(NEW_YORK, FROM_0230, local(NEW_YORK, "2026-03-08 00:00"), "2026-03-08 07:00", id="new-york-gap-opens-0300-edt"),
        # Fall back: the first occurrence of the ambiguous opening time.
        pytest.param(BERLIN, FROM_0230, local(BERLIN, "2026-10-25 00:00"), "2026-10-25 00:30", id="berlin-ambiguous-first-cest"),
        pytest.param(NEW_YORK, FROM_0130, local(NEW_YORK, "2026-11-01 00:00"), "2026-11-01 05:30", id="new-york-ambiguous-first-edt"),
        # During the repeated hour the window follows what the clocks show.
        pytest.param(NEW_YORK, FROM_0130, local(NEW_YORK, "2026-11-01 01:45"), "2026-11-01 05:45", id="inside-during-first-pass"),
        pytest.param(NEW_YORK, FROM_0130, local(NEW_YORK, "2026-11-01 01:10", fold=1), "2026-11-01 06:30", id="repeated-0110-waits-0130"),
        pytest.param(NEW_YORK, UNTIL_0130, local(NEW_YORK, "2026-11-01 01:30"), "2026-11-01 06:00", id="reopens-for-repeated-hour"),
        # A window ending inside the gap closes when the clocks jump.
        pytest.param(NEW_YORK, UNTIL_0230, local(NEW_YORK, "2026-03-08 01:59"), "2026-03-08 06:59", id="ends-in-gap-open-before-jump"),
        pytest.param(NEW_YORK, UNTIL_0230, utc("2026-03-08 07:00"), "2026-03-09 05:00", id="ends-in-gap-closed-after-jump"),
        # A window wholly inside the gap has no instant that day.
        pytest.param(BERLIN, INSIDE_GAP, local(BERLIN, "2026-03-29 00:00"), "2026-03-30 00:10", id="inside-gap-skips-the-day"),
        # Cuba springs forward at midnight: the day's 00:00 opening becomes 01:00 CDT.
        pytest.param(HAVANA, SMALL_HOURS, local(HAVANA, "2026-03-07 23:30"), "2026-03-08 05:00", id="havana-midnight-gap"),
    ],
)
def test_next_opening_across_dst_transitions_of_2026(zone, window, instant, expected_utc):
    assert next_opening(window, instant, zone) == utc(expected_utc)


def test_gap_opening_is_the_first_valid_local_time_after_the_gap():
    opened = next_opening(FROM_0230, local(BERLIN, "2026-03-29 00:00"), BERLIN).astimezone(BERLIN)
    assert (opened.hour, opened.minute, opened.utcoffset().total_seconds()) == (3, 0, 7200)


def test_ambiguous_opening_is_the_first_occurrence():
    opened = next_opening(FROM_0130, local(NEW_YORK, "2026-11-01 00:00"), NEW_YORK).astimezone(NEW_YORK)
    assert (opened.hour, opened.minute, opened.fold) == (1, 30, 0)


def test_result_is_utc_and_the_same_instant_when_inside():
    instant = local(BERLIN, "2026-06-03 12:00")
    opened = next_opening(WEEKDAYS_9_TO_6, instant, BERLIN)
    assert opened == instant
    assert opened.tzinfo is UTC


def test_naive_instant_is_refused():
    with pytest.raises(ValueError, match="aware"):
        next_opening(WEEKDAYS_9_TO_6, datetime(2026, 1, 5, 10, 0), NEW_YORK)


def test_is_open_follows_the_wall_clock():
    assert is_open(FRIDAY_NIGHT, local(BERLIN, "2026-01-10 05:59"), BERLIN)
    assert not is_open(FRIDAY_NIGHT, local(BERLIN, "2026-01-10 06:00"), BERLIN)
    assert is_open(None, local(BERLIN, "2026-01-10 06:00"), BERLIN)


def test_window_spec_reads_days_in_any_case_and_end_at_2400():
    window = DeliveryWindow.from_spec(days=["Mon", " fri ", "mon"], start="9:00", end="24:00")
    assert window == DeliveryWindow(days=frozenset({0, 4}), start=time(9, 0), end=time(0, 0))
    assert window.to_spec() == {"days": ["mon", "fri"], "start": "09:00", "end": "00:00"}
    assert DeliveryWindow.from_spec(**window.to_spec()) == window


def test_omitted_days_mean_every_day():
    assert DeliveryWindow.from_spec(days=None, start="08:00", end="21:00").days == frozenset(range(7))


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"days": [], "start": "09:00", "end": "18:00"}, "days", "at least one day"),
        ({"days": ["funday"], "start": "09:00", "end": "18:00"}, "days", "not one of"),
        ({"days": "mon", "start": "09:00", "end": "18:00"}, "days", "a list of days"),
        ({"days": ["mon"], "start": "24:00", "end": "18:00"}, "start", "not a time of day"),
        ({"days": ["mon"], "start": "09:00", "end": "18:60"}, "end", "not a time of day"),
        ({"days": ["mon"], "start": "9am", "end": "18:00"}, "start", "not a local time"),
        ({"days": ["mon"], "start": 540, "end": "18:00"}, "start", "quoted"),
    ],
)
def test_unusable_window_spec_is_refused_with_its_field(spec, field, reason):
    with pytest.raises(TimingRefused) as refused:
        DeliveryWindow.from_spec(**spec)
    assert refused.value.field == field
    assert reason in refused.value.reason


def example_windows() -> list:
    specs = ((path.stem, yaml.safe_load(path.read_text()).get("delivery_window")) for path in sorted(EXAMPLES.glob("*.yaml")))
    return [pytest.param(spec, id=name) for name, spec in specs if spec is not None]


@pytest.mark.parametrize("spec", example_windows())
def test_example_campaign_windows_are_read(spec):
    window = DeliveryWindow.from_spec(days=spec.get("days"), start=spec["start"], end=spec["end"])
    assert window.to_spec()["start"] == spec["start"]
    assert window.to_spec()["end"] == spec["end"]
    assert window.to_spec()["days"] == spec["days"]
