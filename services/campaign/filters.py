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
    if not isinstance(data, Mapping):
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

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}")
        if self.op in LIST_OPERATORS:
            if not isinstance(self.value, (list, tuple)):
                raise ValueError(f"{self.op!r} needs a list of values")
            object.__setattr__(self, "value", tuple(self.value))
        if self.op in TIME_OPERATORS:
            object.__setattr__(self, "time", parse_time_reference(self.value))

    def holds(self, data: Mapping[str, Any], *, now: datetime) -> bool:
        actual = lookup(data, self.property)
        if self.op == "not_exists":
            return actual is MISSING
        if actual is MISSING:
            return False
        return _CHECKS[self.op](actual, self, now)


def _before(actual: Any, condition: Condition, now: datetime) -> bool:
    at = as_instant(actual)
    return at is not None and at < condition.time.resolve(now)  # type: ignore[union-attr]


def _after(actual: Any, condition: Condition, now: datetime) -> bool:
    at = as_instant(actual)
    return at is not None and at > condition.time.resolve(now)  # type: ignore[union-attr]


def _ordered(accept: Callable[[int], bool]) -> Callable[[Any, Condition, datetime], bool]:
    def check(actual: Any, condition: Condition, now: datetime) -> bool:
        order = typed_order(actual, condition.value)
        return order is not None and accept(order)

    return check


_CHECKS: dict[str, Callable[[Any, Condition, datetime], bool]] = {
    "eq": lambda actual, c, now: typed_equal(actual, c.value),
    "neq": lambda actual, c, now: not typed_equal(actual, c.value),
    "gt": _ordered(lambda order: order > 0),
    "gte": _ordered(lambda order: order >= 0),
    "lt": _ordered(lambda order: order < 0),
    "lte": _ordered(lambda order: order <= 0),
    "contains": lambda actual, c, now: contains(actual, c.value),
    "not_contains": lambda actual, c, now: not contains(actual, c.value),
    "starts_with": lambda actual, c, now: starts_with(actual, c.value),
    "in": lambda actual, c, now: any(typed_equal(actual, option) for option in c.value),
    "not_in": lambda actual, c, now: not any(typed_equal(actual, option) for option in c.value),
    "exists": lambda actual, c, now: True,
    "before": _before,
    "after": _after,
}


@dataclass(frozen=True)
class FilterGroup:
    """Conditions that must all hold."""

    all_of: tuple[Condition, ...]


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
        if all(
            condition.holds(user_attributes if condition.source == "user" else event_properties, now=now)
            for condition in group.all_of
        ):
            return True
    return False


def conditions_hold(conditions: tuple[Condition, ...], properties: Mapping[str, Any], *, now: datetime) -> bool:
    """A `where` list: every condition holds on these properties (an empty list always holds)."""
    return all(condition.holds(properties, now=now) for condition in conditions)


def event_conditions_may_hold(filters: Filters | None, event_properties: Mapping[str, Any], *, now: datetime) -> bool:
    """At trigger time: whether some group's event conditions all hold. The trigger event never
    changes, so a user whose every group already fails on the event is kept out at once; user
    conditions wait for the settle period (Confirm evaluates the whole filter)."""
    if filters is None or not filters.any_of:
        return True
    return any(
        all(condition.holds(event_properties, now=now) for condition in group.all_of if condition.source != "user")
        for group in filters.any_of
    )
