"""Filter conditions and their typed evaluation over event properties and user attributes.

The type rules, in one place:

- A property that is absent, or present with a null value, is *missing*. A missing value
  matches nothing but `not_exists`: `neq`, `not_in` and `not_contains` are False on it too,
  so a negative condition means "has a value, and it is not ...".
- Booleans compare as booleans: true / false, or the text "true" / "false" in any case. A
  boolean never equals a number or other text.
- Numbers, and text that reads as a number ("45", "4.5", "1e3"), compare as numbers:
  "45" > 9 and "45" == 45.0. Two numeric texts compare as numbers too ("045" == "45").
- Other text compares as text, case-sensitively; gt/lt/gte/lte on two non-numeric texts are
  lexicographic.
- Anything else (a number or numeric text against other text, a list against a scalar) is
  not equal and not ordered: eq, gt, gte, lt, lte are False; neq is True.
- `contains`: a substring of text (numbers read as their text), an element of a list (typed
  equality), or a key of an object. `starts_with` works on text and numbers' text.
- `before` / `after` read the property as an ISO date or time (naive = UTC) and compare it
  with an absolute time or one relative to `now`; a value that is not a time matches neither.

A property name is looked up as an exact key first ("Coupon used", "utm.source"), then as a
dotted path into nested objects ("address.city").

Pure: imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from herald_services.campaign.times import (
    TimeReference,
    as_instant,
    parse_time_reference,
)

OPERATORS = (
    "eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "starts_with",
    "in", "not_in", "exists", "not_exists", "before", "after",
)
VALUELESS_OPERATORS = frozenset({"exists", "not_exists"})
LIST_OPERATORS = frozenset({"in", "not_in"})
TIME_OPERATORS = frozenset({"before", "after"})
SOURCES = ("event", "user")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def as_number(value: Any) -> int | float | None:
    """An int or float, or text that reads as a finite number; None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _number_from_text(value)
    return None


@functools.lru_cache(maxsize=65_536)
def _number_from_text(value: str) -> int | float | None:
    text = value.strip()
    if len(text) > 400 or _NUMBER.fullmatch(text) is None:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def as_boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def as_text(value: Any) -> str | None:
    """Text as is, numbers as they are written; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return None


def typed_equal(actual: Any, expected: Any) -> bool:
    """Equality under the type rules above; both values present."""
    if type(actual) is str and type(expected) is str:
        # The usual case, decided as below without the type checks: the same text is equal
        # whether or not it reads as a number; different texts only as equal numbers.
        if actual == expected:
            return True
        left_number, right_number = _number_from_text(actual), _number_from_text(expected)
        return left_number is not None and right_number is not None and left_number == right_number
    if isinstance(actual, bool) or isinstance(expected, bool):
        left, right = as_boolean(actual), as_boolean(expected)
        return left is not None and left == right
    left_number, right_number = as_number(actual), as_number(expected)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    if isinstance(actual, str) and isinstance(expected, str):
        return actual == expected
    return False


def typed_order(actual: Any, expected: Any) -> int | None:
    """-1, 0 or 1 as actual sorts before, with or after expected; None when they do not compare."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return None
    left_number, right_number = as_number(actual), as_number(expected)
    if left_number is not None and right_number is not None:
        return (left_number > right_number) - (left_number < right_number)
    if isinstance(actual, str) and isinstance(expected, str) and left_number is None and right_number is None:
        return (actual > expected) - (actual < expected)
    return None


def contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, (list, tuple)):
        return any(typed_equal(element, expected) for element in actual if element is not None)
    if isinstance(actual, Mapping):
        return isinstance(expected, str) and actual.get(expected) is not None
    haystack, needle = as_text(actual), as_text(expected)
    return haystack is not None and needle is not None and needle in haystack


def starts_with(actual: Any, expected: Any) -> bool:
    text, prefix = as_text(actual), as_text(expected)
    return text is not None and prefix is not None and text.startswith(prefix)


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value a property name reads, or MISSING: an exact key wins, else a dotted path
    (longest matching key first, so {"a.b": {"c": 1}} answers "a.b.c")."""
    value = _find(data, path)
    return MISSING if value is None else value


def _find(data: Any, path: str) -> Any:
    if type(data) is not dict and not isinstance(data, Mapping):  # the ABC check is the slow one
        return None
    value = data.get(path)
    if value is not None:
        return value
    dot = path.rfind(".")
    while dot > 0:
        head = data.get(path[:dot])
        if isinstance(head, Mapping):
            value = _find(head, path[dot + 1:])
            if value is not None:
                return value
        dot = path.rfind(".", 0, dot)
    return None


@dataclass(frozen=True)
class Condition:
    """One comparison: `property op value`, read from the event (`source: event`) or the user.

    `source` is None in goal and cancel `where` lists, which always read the event at hand.
    `value` is None for exists / not_exists and a tuple for in / not_in.
    """

    property: str
    op: str
    value: Any = None
    source: str | None = None
    time: TimeReference | None = field(default=None, init=False, compare=False, repr=False)
    # The comparison with `value` already read under the type rules (compiled once, here, for
    # OnEvents, Confirm and simulate alike): called with a present value and the time.
    check: Callable[[Any, datetime], bool] = field(default=None, init=False, compare=False, repr=False)  # type: ignore[assignment]
    # What explain's fact of this condition always says (property, op, value, source), made
    # once by evidence.condition_fact on first use.
    fact: dict[str, Any] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}")
        if self.op in LIST_OPERATORS:
            if not isinstance(self.value, (list, tuple)):
                raise ValueError(f"{self.op!r} needs a list of values")
            object.__setattr__(self, "value", tuple(self.value))
        if self.op in TIME_OPERATORS:
            object.__setattr__(self, "time", parse_time_reference(self.value))
        object.__setattr__(self, "check", _compile(self))

    def holds(self, data: Mapping[str, Any], *, now: datetime) -> bool:
        # A plain dict with the exact key is the common case; lookup() is the rule for the rest.
        actual = data.get(self.property) if data.__class__ is dict else None
        if actual is None:
            actual = lookup(data, self.property)
            if actual is MISSING:
                return self.op == "not_exists"
        return self.check(actual, now)

    def holds_for(self, actual: Any, *, now: datetime) -> bool:
        """holds, given the value its property read (MISSING: none), for callers that show the
        value too (explain's facts) and so read it once."""
        if self.op == "not_exists":
            return actual is MISSING
        if actual is MISSING:
            return False
        return self.check(actual, now)


def equal_to(expected: Any) -> Callable[[Any], bool]:
    """typed_equal(actual, expected) as a function of actual, with expected read once."""
    if isinstance(expected, bool):
        return lambda actual: as_boolean(actual) is expected
    as_bool = as_boolean(expected)
    number = as_number(expected)
    text = expected if isinstance(expected, str) else None

    def equal(actual: Any) -> bool:
        if actual.__class__ is bool:
            return actual is as_bool
        if number is not None:
            left = as_number(actual)
            if left is not None:
                return left == number
        return text is not None and isinstance(actual, str) and actual == text

    return equal


def ordered_against(expected: Any, accept: Callable[[int], bool]) -> Callable[[Any], bool]:
    """Whether typed_order(actual, expected) is not None and accepted, with expected read once."""
    if isinstance(expected, bool):
        return lambda actual: False
    number = as_number(expected)
    text = expected if isinstance(expected, str) and number is None else None

    def check(actual: Any) -> bool:
        if actual.__class__ is bool:
            return False
        left = as_number(actual)
        if left is not None:
            return number is not None and accept((left > number) - (left < number))
        return text is not None and isinstance(actual, str) and accept((actual > text) - (actual < text))

    return check


def one_of(options: tuple[Any, ...]) -> Callable[[Any], bool]:
    """any(typed_equal(actual, option) for option in options), with the options read once: text
    options that read as neither number nor boolean equal only the same text, so a set answers."""
    if all(isinstance(option, str) and as_number(option) is None and as_boolean(option) is None
           for option in options):
        texts = frozenset(options)
        return lambda actual: isinstance(actual, str) and actual in texts
    equals = tuple(equal_to(option) for option in options)
    return lambda actual: any(equal(actual) for equal in equals)


def _compile(condition: Condition) -> Callable[[Any, datetime], bool]:
    op, value = condition.op, condition.value
    if op in ("eq", "neq"):
        equal = equal_to(value)
        return (lambda actual, now: equal(actual)) if op == "eq" else (lambda actual, now: not equal(actual))
    if op in _ORDERS:
        ordered = ordered_against(value, _ORDERS[op])
        return lambda actual, now: ordered(actual)
    if op in LIST_OPERATORS:
        member = one_of(value)
        return (lambda actual, now: member(actual)) if op == "in" else (lambda actual, now: not member(actual))
    if op == "exists":
        return lambda actual, now: True
    if op == "not_exists":
        return lambda actual, now: False  # called only with a present value
    check = _CHECKS[op]
    return lambda actual, now: check(actual, condition, now)


def _before(actual: Any, condition: Condition, now: datetime) -> bool:
    at = as_instant(actual)
    return at is not None and at < condition.time.resolve(now)  # type: ignore[union-attr]


def _after(actual: Any, condition: Condition, now: datetime) -> bool:
    at = as_instant(actual)
    return at is not None and at > condition.time.resolve(now)  # type: ignore[union-attr]


_ORDERS: dict[str, Callable[[int], bool]] = {
    "gt": lambda order: order > 0,
    "gte": lambda order: order >= 0,
    "lt": lambda order: order < 0,
    "lte": lambda order: order <= 0,
}
_CHECKS: dict[str, Callable[[Any, Condition, datetime], bool]] = {
    "contains": lambda actual, c, now: contains(actual, c.value),
    "not_contains": lambda actual, c, now: not contains(actual, c.value),
    "starts_with": lambda actual, c, now: starts_with(actual, c.value),
    "before": _before,
    "after": _after,
}


@dataclass(frozen=True)
class FilterGroup:
    """Conditions that must all hold."""

    all_of: tuple[Condition, ...]

    @functools.cached_property
    def event_conditions(self) -> tuple[Condition, ...]:
        """Those read from the event: all a trigger event can be checked against at once."""
        return tuple(condition for condition in self.all_of if condition.source != "user")


@dataclass(frozen=True)
class Filters:
    """Groups of which at least one must hold."""

    any_of: tuple[FilterGroup, ...]


def filters_match(
    filters: Filters | None,
    *,
    event_properties: Mapping[str, Any],
    user_attributes: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Whether a campaign's filters hold; a campaign without filters always matches."""
    if filters is None or not filters.any_of:
        return True
    for group in filters.any_of:
        for condition in group.all_of:
            if not condition.holds(user_attributes if condition.source == "user" else event_properties, now=now):
                break
        else:
            return True
    return False


def conditions_hold(conditions: tuple[Condition, ...], properties: Mapping[str, Any], *, now: datetime) -> bool:
    """A `where` list: every condition holds on these properties (an empty list always holds)."""
    for condition in conditions:
        if not condition.holds(properties, now=now):
            return False
    return True


def event_conditions_may_hold(filters: Filters | None, event_properties: Mapping[str, Any], *, now: datetime) -> bool:
    """At trigger time: whether some group's event conditions all hold. The trigger event never
    changes, so a user whose every group already fails on the event is kept out at once; user
    conditions wait for the settle period (Confirm evaluates the whole filter)."""
    if filters is None or not filters.any_of:
        return True
    for group in filters.any_of:
        for condition in group.event_conditions:
            if not condition.holds(event_properties, now=now):
                break
        else:
            return True
    return False
