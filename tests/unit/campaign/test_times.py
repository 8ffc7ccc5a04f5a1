"""Durations and the times before/after compare against."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from herald_services.campaign.times import (
    as_instant,
    format_duration,
    parse_duration,
    parse_time_reference,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("0m", timedelta(0)),
    ("90s", timedelta(seconds=90)),
    ("30m", timedelta(minutes=30)),
    ("4h", timedelta(hours=4)),
    ("2d", timedelta(days=2)),
    ("1w", timedelta(days=7)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1d 2h", timedelta(days=1, hours=2)),
    (0, timedelta(0)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "4x", "4", "h", "30m1h", "-4h", "4H", "1.5h", "four hours", 90, True, None, [1]])
def test_not_durations(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@given(seconds=st.integers(min_value=0, max_value=3650 * 86_400))
def test_format_duration_reads_back(seconds):
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW),
    ("-7d", NOW - timedelta(days=7)),
    ("+2h", NOW + timedelta(hours=2)),
    ("-1h30m", NOW - timedelta(hours=1, minutes=30)),
    ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
    ("2026-01-31T09:00:00Z", datetime(2026, 1, 31, 9, tzinfo=UTC)),
    ("2026-01-31T09:00:00+02:00", datetime(2026, 1, 31, 7, tzinfo=UTC)),
    ("2026-01-31 09:00", datetime(2026, 1, 31, 9, tzinfo=UTC)),
])
def test_time_references(text, expected):
    assert parse_time_reference(text).resolve(NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7d", "-7x", "2026-13-01", "20260131", 1767225600, True, None])
def test_not_time_references(text):
    with pytest.raises(ValueError, match="is not a time"):
        parse_time_reference(text)


def test_instants_from_property_values():
    assert as_instant("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    assert as_instant(date(2026, 1, 5)) == datetime(2026, 1, 5, tzinfo=UTC)
    assert as_instant(datetime(2026, 1, 5, 1, 0)) == datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    assert as_instant("2026-01-05T01:00:00.123-05:00") == datetime(2026, 1, 5, 6, 0, 0, 123_000, tzinfo=UTC)
    assert as_instant("soon") is None
    assert as_instant(1767225600) is None
