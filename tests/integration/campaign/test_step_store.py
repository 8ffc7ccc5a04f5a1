"""campaign's decision steps on SQLite and PostgreSQL: written with the decision's own
transaction (and gone with it when it rolls back), one user's steps read back as one range,
deleted with the user, pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_common.steps import delete_steps, prune_steps, read_steps
from herald_services.campaign import handlers
from herald_services.campaign.catalogue import Catalogue
from sqlalchemy import text

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ADDED = "[Segment] Added item to cart"

ONCE = """
name: Once only
trigger: {event: "[Segment] Added item to cart"}
reentry: once
filters:
  any_of:
    - all_of:
        - {source: event, property: locale, op: eq, value: EU}
message: {channel: email, subject: Hi, body: Hello}
"""

PAUSED = """
name: Paused one
trigger: {event: "[Segment] Added item to cart"}
message: {channel: email, subject: Hi, body: Hello}
"""


def _event(event_id: str, profile: str = "p1", **properties) -> handlers.IncomingEvent:
    return handlers.IncomingEvent(id=event_id, workspace_id="default", name=ADDED, profile_id=profile, user_id="u1",
                                  properties=properties, timestamp=NOW, received_at=NOW)


def _steps(engine, **kwargs):
    with engine.connect() as connection:
        return read_steps(connection, handlers.STEPS, workspace_id="default", profile_ids=["p1"], **kwargs)


@pytest.fixture
def catalogue(campaign_engine):
    catalogue = Catalogue()
    with campaign_engine.begin() as connection:
        once = handlers.apply_campaign(connection, catalogue, workspace_id="default", source_yaml=ONCE, file_name="",
                                       now=NOW)
        handlers.apply_campaign(connection, catalogue, workspace_id="default", source_yaml=PAUSED, file_name="", now=NOW)
        handlers.set_status(connection, catalogue, workspace_id="default", name="Paused one", status="paused", now=NOW)
    catalogue.once_id = once.campaign.id
    return catalogue


def test_a_trigger_records_each_decision_for_each_campaign_in_its_transaction(campaign_engine, catalogue):
    with campaign_engine.begin() as connection:
        handlers.process_events(connection, catalogue, [_event("1", locale="EU")], now=NOW, settle=timedelta(seconds=60))
    steps = _steps(campaign_engine)
    by_campaign = {}
    for step in steps:
        by_campaign.setdefault(step.campaign_id, []).append((step.step, step.outcome))
    assert by_campaign[catalogue.once_id] == [("triggered", "received"), ("event_conditions", "held"),
                                              ("entered", "scheduled"), ("settle", "waiting")]
    paused_id = next(c for c in by_campaign if c != catalogue.once_id)
    assert by_campaign[paused_id] == [("triggered", "received"), ("not_entered", "campaign_not_live")]
    entered = next(s for s in steps if s.step == "entered")
    assert entered.send_id == handlers.send_id_for(catalogue.once_id, "1") and entered.trigger_event_id == "1"
    assert entered.detail["channel"] == "email" and entered.detail["reentry"] == "once"
    conditions = next(s for s in steps if s.step == "event_conditions").detail["conditions"]
    assert conditions == [{"property": "locale", "op": "eq", "value": "EU", "source": "event", "group": 0,
                           "held": True, "saw": "EU"}]


def test_the_reentry_rule_and_failing_event_conditions_are_recorded_as_not_entered(campaign_engine, catalogue):
    with campaign_engine.begin() as connection:
        handlers.process_events(connection, catalogue, [_event("1", locale="EU")], now=NOW, settle=timedelta(seconds=60))
    later = NOW + timedelta(minutes=5)
    with campaign_engine.begin() as connection:
        handlers.process_events(connection, catalogue, [_event("2", locale="EU"), _event("3", locale="US")], now=later,
                                settle=timedelta(seconds=60))
    second = [(s.step, s.outcome, s.detail) for s in _steps(campaign_engine, campaign_ids=[catalogue.once_id],
                                                             trigger_event_id="2")]
    assert second[-1][:2] == ("not_entered", "reentry")
    assert second[-1][2]["rule"] == "once" and second[-1][2]["last_entered_at"].startswith("2026-12-03T09:00:00")
    third = _steps(campaign_engine, campaign_ids=[catalogue.once_id], trigger_event_id="3")
    assert [(s.step, s.outcome) for s in third] == [("triggered", "received"), ("event_conditions", "not_held")]
    assert third[1].detail["conditions"][0]["saw"] == "US"


def test_a_rolled_back_decision_leaves_no_step_and_a_redelivered_event_records_nothing_twice(campaign_engine, catalogue):
    with pytest.raises(RuntimeError):
        with campaign_engine.begin() as connection:
            handlers.process_events(connection, catalogue, [_event("1", locale="EU")], now=NOW,
                                    settle=timedelta(seconds=60))
            raise RuntimeError("the transaction fails after the decision")
    assert _steps(campaign_engine) == []
    for _ in range(2):
        with campaign_engine.begin() as connection:
            handlers.process_events(connection, catalogue, [_event("1", locale="EU")], now=NOW,
                                    settle=timedelta(seconds=60))
    assert len([s for s in _steps(campaign_engine) if s.step == "triggered"]) == 2  # one per campaign, once


def test_a_switched_off_log_writes_no_step_and_paused_triggers_are_not_looked_at(campaign_engine, catalogue):
    from herald_common.steps import StepLog

    with campaign_engine.begin() as connection:
        outcome = handlers.process_events(connection, catalogue, [_event("1", locale="EU")], now=NOW,
                                          settle=timedelta(seconds=60), steps=StepLog(enabled=False))
    assert len(outcome.new_sends) == 1
    assert _steps(campaign_engine) == []


def test_one_users_steps_are_deleted_with_the_user_and_old_steps_are_pruned(campaign_engine, catalogue):
    with campaign_engine.begin() as connection:
        handlers.process_events(connection, catalogue, [_event("1", locale="EU"), _event("2", profile="p2", locale="EU")],
                                now=NOW - timedelta(days=40), settle=timedelta(seconds=60))
        handlers.process_events(connection, catalogue, [_event("3", locale="US")], now=NOW, settle=timedelta(seconds=60))
    with campaign_engine.begin() as connection:
        assert prune_steps(connection, handlers.STEPS, before=NOW - timedelta(days=30)) == 2
    assert {s.trigger_event_id for s in _steps(campaign_engine)} == {"3"}
    with campaign_engine.begin() as connection:
        assert delete_steps(connection, handlers.STEPS, workspace_id="default", profile_ids=["p1"]) == 1
    assert _steps(campaign_engine) == []


def test_the_step_table_is_keyed_by_user_and_keeps_its_rowid_on_sqlite(campaign_engine):
    if campaign_engine.dialect.name != "sqlite":
        pytest.skip("WITHOUT ROWID is SQLite's")
    with campaign_engine.connect() as connection:
        ddl = connection.execute(text("select sql from sqlite_master where name = 'decision_step'")).scalar_one()
    # rows are appended; only the key's entry goes in at the user's place (migration 0011)
    assert "WITHOUT ROWID" not in ddl.upper()
    assert "PRIMARY KEY (workspace_id, profile_id, at, seq)" in " ".join(ddl.split())


def test_steps_recorded_before_the_rowid_rebuild_are_read_back_after_it(settings):
    from herald_common.db import create_service_engine, migrate

    engine = create_service_engine(settings, "campaign")
    try:
        migrate(engine, "campaign", "campaign_0010")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO decision_step (workspace_id, profile_id, at, seq, steps) VALUES "
                "('default', 'p1', :at, 7, :steps)"),
                {"at": NOW, "steps": '[{"campaign_id": "c1", "trigger_event_id": "1", "send_id": "", '
                                     '"step": "triggered", "outcome": "received", "detail": {"event": "x"}}]'})
        migrate(engine, "campaign")
        steps = _steps(engine)
    finally:
        engine.dispose()
    assert [(s.campaign_id, s.step, s.outcome, s.detail, s.at) for s in steps] == [
        ("c1", "triggered", "received", {"event": "x"}, NOW)]
