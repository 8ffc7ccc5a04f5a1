"""ingest's reads that must stay on an index as the log grows (SQLite's plans, asked directly)."""

from __future__ import annotations

from datetime import UTC, datetime

from herald_common.db import create_service_engine, migrate
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from herald_services.ingest.handlers import events_after_index, period_count, period_events
from herald_services.ingest.store import EVENT


def plan(engine, statement) -> str:
    compiled = statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        return " | ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))


def test_a_users_events_after_the_index_cursor_are_found_by_the_id_range(sqlite_settings):
    engine = create_service_engine(sqlite_settings, "ingest")
    try:
        migrate(engine, "ingest")
        # Not the (workspace_id, message_id) index: that walks every event of the workspace.
        assert "USING INTEGER PRIMARY KEY (rowid>?)" in plan(engine, events_after_index(1000, ["p1", "p2"]))
        by_name = select(EVENT).where(EVENT.c.workspace_id == "default", EVENT.c.name == "[Segment] A",
                                      EVENT.c.id < 99).order_by(EVENT.c.id.desc()).limit(21)
        assert "USING INDEX ix_event_name (name=? AND workspace_id=? AND id<?)" in plan(engine, by_name)
    finally:
        engine.dispose()


def test_a_period_is_read_along_the_name_index_or_the_id_range_and_counted_along_the_id_range(sqlite_settings):
    engine = create_service_engine(sqlite_settings, "ingest")
    period = {"workspace_id": "default", "since": datetime(2026, 11, 26, tzinfo=UTC),
              "until": datetime(2026, 12, 3, tzinfo=UTC), "after": 1000, "high": 51000}
    try:
        migrate(engine, "ingest")
        # Never the (workspace_id, message_id) index for `workspace_id = ?`: every page would walk
        # the workspace's whole log.
        named = plan(engine, period_events(names=["[Segment] A", "[Segment] B"], **period).order_by(EVENT.c.id))
        assert "USING INDEX ix_event_name (name=? AND workspace_id=? AND id>? AND id<?)" in named
        assert "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan(
            engine, period_events(names=[], **period).order_by(EVENT.c.id))
        assert "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan(engine, period_count(**period))
    finally:
        engine.dispose()
