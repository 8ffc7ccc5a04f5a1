"""insert_rows writes what SQLAlchemy's own insert would, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from herald_common.bulk import MAX_ROWS_PER_STATEMENT, insert_rows
from herald_services.campaign.store import ProcessedEventRecord, SendRecord
from sqlalchemy import insert, select

PROCESSED = ProcessedEventRecord.__table__
SEND = SendRecord.__table__


def _send(send_id: str, at: datetime, **changes) -> dict:
    row = {
        "id": send_id, "workspace_id": "w", "campaign_id": "c", "version": 1, "confirmed_version": None,
        "profile_id": "p", "user_id": "u", "channel": "email", "trigger_event_id": "7", "trigger_name": "[Segment] X",
        "trigger_properties": '{"a": 1}', "triggered_at": at, "trigger_at": at, "settle_until": None,
        "due_at": at + timedelta(hours=1), "status": "scheduled", "outcome": "", "sent_at": None,
        "handed_off": False, "created_at": at,
    }
    row.update(changes)
    return row


@pytest.fixture
def engine(campaign_engine):
    return campaign_engine


def test_rows_read_back_as_sqlalchemy_wrote_them(engine):
    berlin = timezone(timedelta(hours=1))
    at = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=berlin)
    with engine.begin() as connection:
        assert insert_rows(connection, SEND, [_send("bulk", at, handed_off=True, settle_until=at)]) == 1
        connection.execute(insert(SEND), [_send("core", at, handed_off=True, settle_until=at)])
    with engine.connect() as connection:
        rows = {row.id: row._mapping for row in connection.execute(select(SEND))}
        # Compared as stored text too: an index range over a time column must order both alike.
        texts = connection.exec_driver_sql("SELECT id, CAST(due_at AS TEXT) FROM send").all()
    bulk, core = dict(rows["bulk"]), dict(rows["core"])
    assert bulk.pop("id") == "bulk" and core.pop("id") == "core"
    assert bulk == core
    assert bulk["due_at"] == at + timedelta(hours=1) and bulk["due_at"].tzinfo is not None
    assert bulk["handed_off"] is True and bulk["confirmed_version"] is None
    assert len({text for _, text in texts}) == 1


def test_conflicting_rows_are_skipped_and_counted_out(engine):
    now = datetime.now(UTC)
    with engine.begin() as connection:
        assert insert_rows(connection, PROCESSED, [{"event_id": "1", "processed_at": now}]) == 1
    many = [{"event_id": str(n), "processed_at": now} for n in range(MAX_ROWS_PER_STATEMENT * 2 + 7)]
    with engine.begin() as connection:
        went_in = insert_rows(connection, PROCESSED, many, skip_conflicts_on=["event_id"])
    assert went_in == len(many) - 1
    with engine.connect() as connection:
        assert connection.execute(select(PROCESSED.c.event_id)).scalars().all().__len__() == len(many)


def test_naive_datetimes_are_refused(engine):
    with engine.begin() as connection, pytest.raises(ValueError, match="aware"):
        insert_rows(connection, PROCESSED, [{"event_id": "1", "processed_at": datetime(2026, 1, 1)}])
