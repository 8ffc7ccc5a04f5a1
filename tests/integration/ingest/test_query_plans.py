"""ingest's reads that must stay on an index as the log grows (SQLite's plans, asked directly)."""

from __future__ import annotations

from herald_common.db import create_service_engine, migrate
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from herald_services.ingest.handlers import events_after_index
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
