"""ingest's pure rules: event names and Segment's timestamp arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_services.ingest.domain import CatalogueWindow, EventRefused, event_name, event_time, property_set
from hypothesis import given
from hypothesis import strategies as st

RECEIVED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_track_page_and_screen_names():
    assert event_name("track", "Signed Up", {}, {}) == "[Segment] Signed Up"
    assert event_name("page", "Pricing", {"url": "https://x.test/p"}, {}) == "[Segment Page] Pricing"
    assert event_name("screen", "Home", {}, {}) == "[Segment Screen] Home"


def test_page_without_a_name_uses_its_url_never_undefined():
    assert event_name("page", "", {"url": "https://x.test/p"}, {}) == "[Segment Page] https://x.test/p"
    assert event_name("page", "undefined", {}, {"page": {"url": "https://x.test/c"}}) == "[Segment Page] https://x.test/c"
    with pytest.raises(EventRefused) as refused:
        event_name("page", "undefined", {}, {})
    assert refused.value.field == "name"


def test_track_without_event_is_refused():
    with pytest.raises(EventRefused) as refused:
        event_name("track", "  ", {}, {})
    assert refused.value.field == "event"


def test_explicit_timestamp_is_kept():
    when = event_time(timestamp="2026-01-01T10:00:00+02:00", sent_at="2026-11-27T11:00:00Z",
                      original_timestamp="2026-11-27T10:00:00Z", received_at=RECEIVED)
    assert when == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def test_clock_skew_is_corrected_from_sent_at_and_original_timestamp():
    when = event_time(timestamp="", sent_at="2030-01-01T00:00:30Z", original_timestamp="2030-01-01T00:00:00Z", received_at=RECEIVED)
    assert when == RECEIVED - timedelta(seconds=30)


def test_without_any_client_time_the_received_time_is_used():
    assert event_time(timestamp="", sent_at="", original_timestamp="", received_at=RECEIVED) == RECEIVED


def test_unparseable_timestamp_names_the_field():
    with pytest.raises(EventRefused) as refused:
        event_time(timestamp="yesterday", sent_at="", original_timestamp="", received_at=RECEIVED)
    assert refused.value.field == "timestamp"


@given(skew=st.integers(min_value=-86_400, max_value=86_400), age=st.integers(min_value=0, max_value=86_400))
def test_corrected_time_is_received_minus_the_delay_whatever_the_skew(skew, age):
    client_now = RECEIVED + timedelta(seconds=skew)
    original = client_now - timedelta(seconds=age)
    when = event_time(timestamp="", sent_at=client_now.isoformat(), original_timestamp=original.isoformat(), received_at=RECEIVED)
    assert when == RECEIVED - timedelta(seconds=age)


def test_property_set_is_the_sorted_top_level_names():
    assert property_set({"price": 1, "cart_id": 2, "nested": {"a": 1}}) == ("cart_id", "nested", "price")


def test_catalogue_window_covers_thirty_days_and_24_hour_buckets():
    window = CatalogueWindow.at(datetime(2026, 11, 27, 12, 30, tzinfo=UTC))
    assert window.since_24h == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    assert window.since_30d == datetime(2026, 10, 28, 13, 0, tzinfo=UTC)


def test_an_unreadable_time_field_is_ignored_and_reported_not_the_event():
    from herald_services.ingest.domain import event_time_lenient

    when, ignored = event_time_lenient(
        timestamp="yesterday", sent_at="2030-01-01T00:00:30Z", original_timestamp="2030-01-01T00:00:00Z", received_at=RECEIVED
    )
    assert when == RECEIVED - timedelta(seconds=30)
    assert [(p.field, "ignored" in p.reason) for p in ignored] == [("timestamp", True)]
