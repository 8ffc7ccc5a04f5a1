"""The facts behind a decision, as the details of its decision step (herald explain).

Each function evaluates a rule the way the deciding code does (the same Condition.holds,
lookup and typed_equal) and also says what it saw, so a step's detail shows each condition with
the value it read and whether it held. Pure: imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from herald_services.campaign.domain import CancelRule, Goal, Reentry
from herald_services.campaign.filters import MISSING, Condition, Filters, lookup, typed_equal

MAX_TEXT = 200  # a value longer than this is cut in a step's detail


def shown(value: Any) -> Any:
    """A value as a step's detail keeps it: JSON's scalars as they are, long text cut, other
    values (objects, lists) as they are when small, else as cut text."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if kind is int or kind is float or kind is bool:
        return value
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (tuple, list)):
        value = list(value)
    text = repr(value)
    return value if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def condition_fact(condition: Condition, data: Mapping[str, Any], *, now: datetime, group: int | None = None) -> dict[str, Any]:
    """One condition: what it reads, the value it saw (None: missing) and whether it held."""
    static = condition.fact
    if static is None:
        static = {"property": condition.property, "op": condition.op}
        if condition.op not in ("exists", "not_exists"):
            static["value"] = shown(condition.value)
        if condition.source is not None:
            static["source"] = condition.source
        object.__setattr__(condition, "fact", static)  # frozen: kept as `time` is, once
    actual = lookup(data, condition.property)
    fact = dict(static)
    fact["held"] = condition.holds_for(actual, now=now)
    fact["saw"] = shown(actual)
    if group is not None:
        fact["group"] = group
    if actual is MISSING:
        fact["missing"] = True
    return fact


def filter_facts(
    filters: Filters,
    *,
    event_properties: Mapping[str, Any],
    user_attributes: Mapping[str, Any] | None,
    now: datetime,
    sources: tuple[str, ...] = ("event", "user"),
) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the filters hold, counting only conditions of `sources` (at trigger time only the
    event's: a group whose event conditions all hold may still enter), and each such condition's
    fact. Agrees with filters_match (both sources) and event_conditions_may_hold (event only)."""
    facts: list[dict[str, Any]] = []
    any_group = False
    for index, group in enumerate(filters.any_of):
        group_holds = True
        for condition in group.all_of:
            source = condition.source or "event"
            if source not in sources:
                continue
            data = event_properties if source == "event" else (user_attributes or {})
            fact = condition_fact(condition, data, now=now, group=index)
            facts.append(fact)
            group_holds = group_holds and fact["held"]
        any_group = any_group or group_holds
    return any_group, facts


def rule_facts(
    rule: Goal | CancelRule,
    *,
    event_name: str,
    properties: Mapping[str, Any],
    trigger_properties: Mapping[str, Any],
    now: datetime,
) -> tuple[bool, dict[str, Any]]:
    """A goal's or cancel rule's match of an event (as domain._event_matches decides it), with
    each `where` condition's fact and each `match_trigger` property's two values."""
    where = [condition_fact(condition, properties, now=now) for condition in rule.where]
    trigger = []
    for name in rule.match_trigger:
        ours, theirs = lookup(properties, name), lookup(trigger_properties, name)
        equal = ours is not MISSING and theirs is not MISSING and typed_equal(ours, theirs)
        trigger.append({"property": name, "saw": shown(ours), "trigger": shown(theirs), "held": equal})
    matched = event_name == rule.event and all(f["held"] for f in where) and all(t["held"] for t in trigger)
    detail: dict[str, Any] = {"event": event_name}
    if where:
        detail["where"] = where
    if trigger:
        detail["match_trigger"] = trigger
    return matched, detail


def reentry_rule(reentry: Reentry) -> str:
    """The rule as the campaign file writes it: every_time, once, once_per 1d."""
    if reentry.mode != "once_per" or reentry.period is None:
        return reentry.mode
    seconds = int(reentry.period.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"once_per {seconds // size}{unit}"
    return f"once_per {seconds}s"
