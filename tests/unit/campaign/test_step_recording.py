"""Recording decision steps: the StepLog (grouping, switch, JSON rows) and the facts a step keeps
for a condition, a cancel rule and a re-entry rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from herald_common.steps import COLUMNS, StepLog
from herald_services.campaign.domain import CancelRule, Reentry
from herald_services.campaign.evidence import condition_fact, filter_facts, reentry_rule, rule_facts, shown
from herald_services.campaign.filters import Condition, FilterGroup, Filters, filters_match

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _add(log: StepLog, profile: str, step: str, at: datetime = NOW, **detail) -> None:
    log.add(workspace_id="w", profile_id=profile, campaign_id="c1", trigger_event_id="e1", send_id="s1", at=at,
            step=step, outcome="ok", detail=detail or None)


def test_steps_of_one_user_at_one_time_are_one_row_in_the_order_they_were_added():
    log = StepLog()
    _add(log, "p1", "triggered", event="Signed Up")
    _add(log, "p2", "triggered")
    _add(log, "p1", "entered", due_at=NOW + timedelta(minutes=1))
    _add(log, "p1", "confirm", at=NOW + timedelta(seconds=1))
    rows = log.rows()
    assert len(log) == 4
    assert [(r[1], r[2]) for r in rows] == [("p1", NOW), ("p2", NOW), ("p1", NOW + timedelta(seconds=1))]
    assert len(rows[0]) == len(COLUMNS)
    # the entry's ids once, then its steps in order
    assert orjson.loads(rows[0][4]) == [{"campaign_id": "c1", "trigger_event_id": "e1", "send_id": "s1", "steps": [
        ["triggered", "ok", {"event": "Signed Up"}], ["entered", "ok", {"due_at": "2026-12-03T09:01:00+00:00"}]]}]
    assert rows[0][3] < rows[2][3]  # seq orders rows of the same process


def test_each_entry_of_a_user_is_written_once_with_its_steps():
    log = StepLog()
    log.add(workspace_id="w", profile_id="p1", campaign_id="c1", trigger_event_id="e1", at=NOW, step="triggered",
            outcome="received")
    log.add(workspace_id="w", profile_id="p1", campaign_id="c2", trigger_event_id="e1", at=NOW, step="triggered",
            outcome="received")
    log.entry(workspace_id="w", profile_id="p1", campaign_id="c1", trigger_event_id="e1", send_id="s1",
              at=NOW).append(("entered", "scheduled", {"channel": "email"}))
    log.add(workspace_id="w", profile_id="p1", campaign_id="c1", trigger_event_id="e1", at=NOW,
            step="event_conditions", outcome="held", detail={})
    [row] = log.rows()
    assert len(log) == 4
    assert [(e["campaign_id"], e["send_id"], e["steps"]) for e in orjson.loads(row[4])] == [
        ("c1", "", [["triggered", "received", None], ["event_conditions", "held", None]]),
        ("c2", "", [["triggered", "received", None]]),
        ("c1", "s1", [["entered", "scheduled", {"channel": "email"}]]),
    ]
    assert StepLog(enabled=False).entry(workspace_id="w", profile_id="p1", campaign_id="c1", at=NOW) == []


def test_a_user_looked_up_but_given_no_steps_writes_no_row():
    log = StepLog()
    log.entries_of(workspace_id="w", profile_id="p1", at=NOW)
    assert not log and log.rows() == [] and len(log) == 0
    log.entries_of(workspace_id="w", profile_id="p1", at=NOW).setdefault(("c1", "e1", ""), []).append(
        ("triggered", "received", None))
    assert log and len(log.rows()) == 1


def test_a_switched_off_log_records_nothing():
    log = StepLog(enabled=False)
    _add(log, "p1", "triggered")
    assert not log and log.rows() == []


def test_extend_keeps_the_steps_of_both_logs_per_user_and_time():
    one, two = StepLog(), StepLog()
    _add(one, "p1", "window")
    _add(two, "p1", "attempt")
    one.extend(two)
    assert len(one) == 2 and len(one.rows()) == 1


def test_a_condition_fact_shows_the_value_it_saw_and_whether_it_held():
    condition = Condition("locale", "eq", "EU", source="event")
    assert condition_fact(condition, {"locale": "US"}, now=NOW, group=0) == {
        "property": "locale", "op": "eq", "value": "EU", "source": "event", "group": 0, "held": False, "saw": "US"}
    missing = condition_fact(Condition("plan", "not_exists", source="user"), {}, now=NOW)
    assert missing == {"property": "plan", "op": "not_exists", "source": "user", "held": True, "saw": None,
                       "missing": True}
    assert shown("x" * 500).endswith("…") and len(shown("x" * 500)) == 201


def test_filter_facts_agree_with_the_filter_evaluation():
    filters = Filters((
        FilterGroup((Condition("price", "gt", 45, source="event"), Condition("plan", "neq", "Enterprise", source="user"))),
        FilterGroup((Condition("locale", "in", ["EU", "UK"], source="event"),)),
    ))
    for event, user in [({"price": 50, "locale": "US"}, {"plan": "Pro"}), ({"price": 50, "locale": "US"}, {"plan": "Enterprise"}),
                        ({"price": 10, "locale": "UK"}, {}), ({"price": 10, "locale": "US"}, {"plan": "Pro"})]:
        held, facts = filter_facts(filters, event_properties=event, user_attributes=user, now=NOW)
        assert held == filters_match(filters, event_properties=event, user_attributes=user, now=NOW)
        assert len(facts) == 3
    # at trigger time only the event's conditions count: a group may still hold on the user
    held, facts = filter_facts(filters, event_properties={"price": 50, "locale": "US"}, user_attributes=None, now=NOW,
                               sources=("event",))
    assert held and [f["property"] for f in facts] == ["price", "locale"]


def test_a_cancel_rule_fact_names_the_matched_properties_and_the_trigger_values():
    rule = CancelRule("[Segment] Purchase made", where=(Condition("total", "gt", 0),), match_trigger=("cart_id",))
    matched, detail = rule_facts(rule, event_name=rule.event, properties={"total": 5, "cart_id": "c1"},
                                 trigger_properties={"cart_id": "c1"}, now=NOW)
    assert matched
    assert detail["match_trigger"] == [{"property": "cart_id", "saw": "c1", "trigger": "c1", "held": True}]
    assert detail["where"][0]["held"] is True
    matched, detail = rule_facts(rule, event_name=rule.event, properties={"total": 5, "cart_id": "c2"},
                                 trigger_properties={"cart_id": "c1"}, now=NOW)
    assert not matched and detail["match_trigger"][0]["held"] is False


def test_reentry_rules_read_as_the_campaign_file_writes_them():
    assert reentry_rule(Reentry()) == "every_time"
    assert reentry_rule(Reentry("once")) == "once"
    assert reentry_rule(Reentry("once_per", timedelta(days=1))) == "once_per 1d"
    assert reentry_rule(Reentry("once_per", timedelta(minutes=90))) == "once_per 90m"
