"""Filter evaluation: every operator, the type rules, property lookup, and OR-of-AND groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_services.campaign.filters import (
    MISSING,
    OPERATORS,
    Condition,
    FilterGroup,
    Filters,
    event_conditions_may_hold,
    filters_match,
    lookup,
    typed_equal,
    typed_order,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def holds(op, actual, value=None):
    """One condition on a property `p` whose value is `actual` (MISSING: no such property)."""
    data = {} if actual is MISSING else {"p": actual}
    return Condition("p", op, value).holds(data, now=NOW)


# (operator, property value, condition value, expected)
OPERATOR_TABLE = [
    # eq / neq: typed equality
    ("eq", "EU", "EU", True),
    ("eq", "eu", "EU", False),  # text is case-sensitive
    ("eq", 45, 45, True),
    ("eq", "45", 45, True),  # numeric text compares as a number
    ("eq", 45.0, "45", True),
    ("eq", "4.50", 4.5, True),
    ("eq", "045", "45", True),  # two numeric texts compare as numbers too
    ("eq", "1e3", 1000, True),
    ("eq", "45abc", 45, False),
    ("eq", True, True, True),
    ("eq", "true", True, True),  # booleans as booleans
    ("eq", "TRUE", True, True),
    ("eq", True, "true", True),
    ("eq", "false", True, False),
    ("eq", 1, True, False),  # a number is not a boolean
    ("eq", True, 1, False),
    ("eq", "yes", True, False),
    ("eq", ["EU"], "EU", False),  # a list is not a scalar: use contains
    ("eq", {"a": 1}, "a", False),
    ("neq", "US", "EU", True),
    ("neq", "EU", "EU", False),
    ("neq", "45", 45, False),
    ("neq", "Enterprise", "Enterprise", False),
    ("neq", 1, True, True),
    # ordering
    ("gt", 50, 45, True),
    ("gt", 45, 45, False),
    ("gt", "45", 9, True),  # numerically, not as text ("45" < "9")
    ("gt", "45", "9", True),
    ("gt", 9.5, "9", True),
    ("gt", "abc", 45, False),  # not ordered against a number
    ("gt", "b", "a", True),  # two texts: lexicographic
    ("gt", "B", "a", False),
    ("gt", True, False, False),  # booleans are not ordered
    ("gte", 45, 45, True),
    ("gte", "45.0", 45, True),
    ("gte", 44.99, 45, False),
    ("lt", 44, 45, True),
    ("lt", "100", 45, False),
    ("lt", [1], 45, False),
    ("lte", 45, 45, True),
    ("lte", 46, "45", False),
    # contains / not_contains / starts_with
    ("contains", "Blue shirt", "shirt", True),
    ("contains", "Blue shirt", "Shirt", False),
    ("contains", "order 45", 45, True),
    ("contains", ["a", "b"], "b", True),
    ("contains", ["1", "2"], 2, True),  # list elements compare typed
    ("contains", ["a", "b"], "c", False),
    ("contains", {"gift": True}, "gift", True),  # an object contains its keys
    ("contains", {"gift": True}, "wrap", False),
    ("contains", 12345, 234, True),
    ("contains", True, "t", False),
    ("not_contains", "Blue shirt", "hat", True),
    ("not_contains", "Blue shirt", "shirt", False),
    ("not_contains", ["a"], "a", False),
    ("starts_with", "+4915112345", "+49", True),
    ("starts_with", "+4915112345", "+44", False),
    ("starts_with", 4915112345, 49, True),
    ("starts_with", ["+49"], "+49", False),
    # in / not_in
    ("in", "Business", ["Business", "Enterprise"], True),
    ("in", "Free", ["Business", "Enterprise"], False),
    ("in", "2", [1, 2, 3], True),
    ("in", "true", [True], True),
    ("not_in", "Free", ["Business", "Enterprise"], True),
    ("not_in", "Business", ["Business", "Enterprise"], False),
    # exists / not_exists
    ("exists", "", None, True),  # an empty text is a value
    ("exists", 0, None, True),
    ("exists", False, None, True),
    ("exists", None, None, False),  # null is missing
    ("not_exists", None, None, True),
    ("not_exists", "x", None, False),
    # before / after: absolute and relative to now
    ("before", "2026-01-01", "2026-01-02", True),
    ("before", "2026-01-02T00:00:00Z", "2026-01-02", False),
    ("before", "2026-01-01T23:59:59+00:00", "2026-01-02", True),
    ("before", "2026-01-02T00:30:00+01:00", "2026-01-02", True),  # offsets count
    ("after", "2026-01-04T13:00:00Z", "-1d", True),
    ("after", "2026-01-04T11:00:00Z", "-1d", False),
    ("before", "2026-01-04T11:00:00Z", "-1d", True),
    ("after", "2026-01-05T13:00:00Z", "now", True),
    ("before", "2026-01-05T13:00:00Z", "+2h", True),
    ("after", "2026-01-05T12:00:00", "-1h30m", True),  # naive times are UTC
    ("after", "not a date", "-7d", False),
    ("before", 1767225600, "now", False),  # numbers are not read as epoch times
    ("after", "2026-01-05", "2026-01-04T23:00:00-02:00", False),
]


@pytest.mark.parametrize(("op", "actual", "value", "expected"), OPERATOR_TABLE)
def test_operator_and_type_rules(op, actual, value, expected):
    assert holds(op, actual, value) is expected


def test_the_table_covers_every_operator():
    assert {row[0] for row in OPERATOR_TABLE} == set(OPERATORS)


VALUE_FOR = {
    "eq": "x", "neq": "x", "gt": 1, "gte": 1, "lt": 1, "lte": 1, "contains": "x", "not_contains": "x",
    "starts_with": "x", "in": ["x"], "not_in": ["x"], "exists": None, "not_exists": None,
    "before": "now", "after": "now",
}


@pytest.mark.parametrize("op", OPERATORS)
def test_a_missing_value_matches_nothing_but_not_exists(op):
    assert holds(op, MISSING, VALUE_FOR[op]) is (op == "not_exists")


@pytest.mark.parametrize("op", OPERATORS)
def test_a_null_value_is_missing(op):
    assert holds(op, None, VALUE_FOR[op]) is (op == "not_exists")


def test_lookup_reads_names_with_spaces_and_dotted_paths():
    data = {"Coupon used": True, "address": {"city": "Berlin", "geo": {"lat": 52.5}}}
    assert lookup(data, "Coupon used") is True
    assert lookup(data, "address.city") == "Berlin"
    assert lookup(data, "address.geo.lat") == 52.5
    assert lookup(data, "address.zip") is MISSING
    assert lookup(data, "address.city.name") is MISSING
    assert lookup(data, "nothing.here") is MISSING


def test_an_exact_key_with_a_dot_wins_over_the_nested_path():
    data = {"utm.source": "newsletter", "utm": {"source": "ads"}}
    assert lookup(data, "utm.source") == "newsletter"
    assert lookup({"utm": {"source": "ads"}}, "utm.source") == "ads"
    assert lookup({"a.b": {"c": 1}}, "a.b.c") == 1
    assert lookup({"a": {"b.c": 2}}, "a.b.c") == 2


def test_a_null_exact_key_falls_back_to_the_nested_path():
    assert lookup({"utm.source": None, "utm": {"source": "ads"}}, "utm.source") == "ads"


def test_conditions_read_nested_properties():
    condition = Condition("address.city", "eq", "Berlin", source="user")
    assert condition.holds({"address": {"city": "Berlin"}}, now=NOW)


def test_in_accepts_a_list_and_stores_a_tuple():
    assert Condition("p", "in", ["a", "b"]).value == ("a", "b")
    with pytest.raises(ValueError, match="list"):
        Condition("p", "in", "a")
    with pytest.raises(ValueError, match="operator"):
        Condition("p", "gtt", 1)


# ---- groups -------------------------------------------------------------------------------

COUPON = Filters((FilterGroup((
    Condition("price", "gt", 45, source="event"),
    Condition("locale", "eq", "EU", source="event"),
)),))
PAYMENT = Filters((
    FilterGroup((Condition("amount", "gte", 100, source="event"),)),
    FilterGroup((Condition("plan", "in", ["Business", "Enterprise"], source="user"),)),
))


def test_all_conditions_of_a_group_must_hold():
    assert filters_match(COUPON, event_properties={"price": 50, "locale": "EU"}, user_attributes={}, now=NOW)
    assert not filters_match(COUPON, event_properties={"price": 50, "locale": "US"}, user_attributes={}, now=NOW)
    assert not filters_match(COUPON, event_properties={"price": "45", "locale": "EU"}, user_attributes={}, now=NOW)


def test_any_group_is_enough():
    assert filters_match(PAYMENT, event_properties={"amount": 120}, user_attributes={"plan": "Free"}, now=NOW)
    assert filters_match(PAYMENT, event_properties={"amount": 10}, user_attributes={"plan": "Business"}, now=NOW)
    assert not filters_match(PAYMENT, event_properties={"amount": 10}, user_attributes={"plan": "Free"}, now=NOW)


def test_source_picks_event_properties_or_user_attributes():
    filters = Filters((FilterGroup((Condition("plan", "eq", "Pro", source="user"),)),))
    assert filters_match(filters, event_properties={}, user_attributes={"plan": "Pro"}, now=NOW)
    assert not filters_match(filters, event_properties={"plan": "Pro"}, user_attributes={}, now=NOW)


def test_a_campaign_without_filters_always_matches():
    assert filters_match(None, event_properties={}, user_attributes={}, now=NOW)
    assert filters_match(Filters(()), event_properties={}, user_attributes={}, now=NOW)


# ---- properties ---------------------------------------------------------------------------

finite_numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
scalars = st.one_of(
    finite_numbers, st.booleans(), st.text(max_size=8),
    st.sampled_from(["true", "false", "TRUE", "45", "045", "4.5", " 7 ", "1e3", "EU", ""]),
)
present = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=2))
COMPARISONS = ("eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "in", "not_in")


def _value_for(op, value):
    return [value] if op in ("in", "not_in") else value


@given(actual=finite_numbers, value=finite_numbers, op=st.sampled_from(("eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in")))
def test_numeric_text_and_numbers_agree(actual, value, op):
    expected = holds(op, actual, _value_for(op, value))
    assert holds(op, repr(actual), _value_for(op, value)) is expected
    assert holds(op, actual, _value_for(op, repr(value))) is expected
    assert holds(op, repr(actual), _value_for(op, repr(value))) is expected


@given(actual=finite_numbers, value=finite_numbers)
def test_numbers_are_exactly_one_of_less_equal_greater(actual, value):
    outcomes = [holds("lt", actual, value), holds("eq", actual, value), holds("gt", actual, value)]
    assert outcomes.count(True) == 1
    assert holds("gte", actual, value) is (outcomes[1] or outcomes[2])
    assert holds("lte", actual, value) is (outcomes[0] or outcomes[1])


@given(actual=present, value=scalars)
def test_eq_and_neq_are_complementary_when_the_value_is_present(actual, value):
    assert holds("eq", actual, value) is not holds("neq", actual, value)


@given(actual=present, value=scalars)
def test_contains_and_not_contains_are_complementary_when_the_value_is_present(actual, value):
    assert holds("contains", actual, value) is not holds("not_contains", actual, value)


@given(actual=st.one_of(st.just(MISSING), st.none(), present))
def test_exists_and_not_exists_are_complementary(actual):
    assert holds("exists", actual) is not holds("not_exists", actual)


@given(actual=present, options=st.lists(scalars, min_size=1, max_size=5))
def test_in_is_any_eq_and_not_in_its_complement(actual, options):
    any_eq = any(holds("eq", actual, option) for option in options)
    assert holds("in", actual, options) is any_eq
    assert holds("not_in", actual, options) is not any_eq


@given(actual=scalars, value=scalars)
def test_equality_is_symmetric(actual, value):
    assert holds("eq", actual, value) is holds("eq", value, actual)


@given(op=st.sampled_from(COMPARISONS), value=scalars)
def test_nothing_but_not_exists_matches_a_missing_value(op, value):
    assert holds(op, MISSING, _value_for(op, value)) is False


@given(flag=st.booleans(), spelling=st.sampled_from([str.lower, str.upper, str.title]))
def test_boolean_text_equals_the_boolean(flag, spelling):
    assert holds("eq", spelling(str(flag)), flag)
    assert not holds("eq", spelling(str(not flag)), flag)


@given(seconds=st.integers(min_value=-10 * 86_400, max_value=10 * 86_400), days=st.integers(min_value=1, max_value=9))
def test_relative_before_and_after_split_time_at_now_minus_the_offset(seconds, days):
    at = (NOW + timedelta(seconds=seconds)).isoformat()
    boundary = NOW - timedelta(days=days)
    reference = f"-{days}d"
    assert holds("after", at, reference) is (NOW + timedelta(seconds=seconds) > boundary)
    assert holds("before", at, reference) is (NOW + timedelta(seconds=seconds) < boundary)


# The type rules, written plainly (typed_equal, typed_order): each condition compiles its value
# once (Condition.check), and must answer exactly what these answer.
ORDERS = {"gt": lambda order: order > 0, "gte": lambda order: order >= 0,
          "lt": lambda order: order < 0, "lte": lambda order: order <= 0}


def by_the_rules(op, actual, value):
    if op == "eq":
        return typed_equal(actual, value)
    if op == "neq":
        return not typed_equal(actual, value)
    if op in ORDERS:
        order = typed_order(actual, value)
        return order is not None and ORDERS[op](order)
    member = any(typed_equal(actual, option) for option in value)
    return member if op == "in" else not member


@given(actual=present, value=scalars, op=st.sampled_from(("eq", "neq", "gt", "gte", "lt", "lte")))
def test_a_compiled_comparison_answers_as_the_type_rules(actual, value, op):
    assert holds(op, actual, value) == by_the_rules(op, actual, value)


@given(actual=present, options=st.lists(scalars, max_size=5), op=st.sampled_from(("in", "not_in")))
def test_a_compiled_list_answers_as_the_type_rules(actual, options, op):
    assert holds(op, actual, options) == by_the_rules(op, actual, tuple(options))


@pytest.mark.parametrize("options", [["EU", "UK"], ["EU", "45"], ["EU", "true"], ["EU", 45], ["EU", True]])
@pytest.mark.parametrize("actual", ["EU", "US", "45", 45, 45.0, "045", True, "true", "TRUE", ["EU"], {"EU": 1}])
def test_in_reads_text_numbers_and_booleans_among_its_options_as_eq_does(options, actual):
    assert holds("in", actual, options) == any(holds("eq", actual, option) for option in options)


def test_a_trigger_is_checked_against_the_event_conditions_of_each_group():
    filters = Filters((
        FilterGroup((Condition("price", "gt", 45, "event"), Condition("plan", "neq", "Enterprise", "user"))),
        FilterGroup((Condition("locale", "in", ["EU", "UK"], "event"),)),
    ))
    assert event_conditions_may_hold(filters, {"price": 50, "locale": "US"}, now=NOW)  # the user is read later
    assert event_conditions_may_hold(filters, {"price": 10, "locale": "UK"}, now=NOW)
    assert not event_conditions_may_hold(filters, {"price": 10, "locale": "US"}, now=NOW)
    assert not filters_match(filters, event_properties={"price": 50, "locale": "US"},
                             user_attributes={"plan": "Enterprise"}, now=NOW)
