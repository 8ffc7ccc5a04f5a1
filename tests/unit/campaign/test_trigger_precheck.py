"""At trigger time only the event's conditions are checked; user conditions wait for the settle
period. The precheck must never keep out a user whom the whole filter would accept later."""

from __future__ import annotations

from datetime import UTC, datetime

from herald_services.campaign.filters import (
    Condition,
    FilterGroup,
    Filters,
    event_conditions_may_hold,
    filters_match,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_no_filters_always_may_hold():
    assert event_conditions_may_hold(None, {}, now=NOW)
    assert event_conditions_may_hold(Filters(()), {}, now=NOW)


def test_user_conditions_are_left_for_later():
    filters = Filters((FilterGroup((Condition("plan", "eq", "pro", source="user"),)),))
    assert event_conditions_may_hold(filters, {}, now=NOW)


def test_a_group_failing_on_the_event_is_out_but_another_group_may_hold():
    eu = FilterGroup((Condition("locale", "eq", "EU", source="event"), Condition("plan", "exists", source="user")))
    big = FilterGroup((Condition("price", "gt", 45, source="event"),))
    filters = Filters((eu, big))
    assert not event_conditions_may_hold(filters, {"locale": "US", "price": 10}, now=NOW)
    assert event_conditions_may_hold(filters, {"locale": "EU", "price": 10}, now=NOW)
    assert event_conditions_may_hold(filters, {"locale": "US", "price": "46"}, now=NOW)


values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["a", "b", "3", "true"]))
conditions = st.builds(
    Condition,
    property=st.sampled_from(["x", "y"]),
    op=st.sampled_from(["eq", "neq", "gt", "lt", "exists", "not_exists", "contains"]),
    value=values,
    source=st.sampled_from(["event", "user"]),
)
groups = st.builds(FilterGroup, st.lists(conditions, min_size=1, max_size=3).map(tuple))
filter_sets = st.builds(Filters, st.lists(groups, min_size=1, max_size=3).map(tuple))
documents = st.dictionaries(st.sampled_from(["x", "y"]), values, max_size=2)


@given(filter_sets, documents, documents)
def test_precheck_never_excludes_a_user_the_whole_filter_accepts(filters, event, user):
    if filters_match(filters, event_properties=event, user_attributes=user, now=NOW):
        assert event_conditions_may_hold(filters, event, now=NOW)
