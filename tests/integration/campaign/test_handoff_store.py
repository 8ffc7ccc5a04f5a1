"""The hand-over bookkeeping on a real database: which sends delivery has not acknowledged,
and the due times it reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_common.bulk import insert_rows
from herald_services.campaign import handlers
from herald_services.campaign.store import SendRecord
from sqlalchemy import select, update

SEND = SendRecord.__table__
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _send(n: int) -> dict:
    at = T0 + timedelta(seconds=n)
    return {
        "id": f"s{n:03d}", "workspace_id": "w", "campaign_id": "c", "version": 1, "confirmed_version": None,
        "profile_id": f"p{n}", "user_id": "", "channel": "email", "trigger_event_id": str(n), "trigger_name": "[Segment] X",
        "trigger_properties": "{}", "triggered_at": at, "trigger_at": at, "settle_until": None,
        "due_at": at + timedelta(hours=1), "status": "scheduled", "outcome": "", "sent_at": None,
        "handed_off": False, "created_at": at,
    }


@pytest.fixture
def engine(campaign_engine):
    return campaign_engine


def test_acknowledged_sends_leave_the_hand_over_and_keep_delivery_due_times(engine):
    with engine.begin() as connection:
        insert_rows(connection, SEND, [_send(n) for n in range(450)])
    moved = {f"s{n:03d}": T0 + timedelta(days=1, minutes=n) for n in range(0, 450, 2)}  # 225: over one chunk
    kept = {f"s{n:03d}": None for n in range(1, 300, 2)}  # delivery kept campaign's due time
    with engine.begin() as connection:
        handlers.mark_handed_off(connection, {**moved, **kept})
        # A send no longer scheduled is not handed over again either.
        connection.execute(update(SEND).where(SEND.c.id == "s301").values(status="cancelled"))
    with engine.connect() as connection:
        pending = handlers.pending_handoff(connection, limit=500)
        rows = {row.id: row for row in connection.execute(select(SEND))}
        before = handlers.pending_handoff(connection, limit=500, before=T0 + timedelta(seconds=350))
    assert [row["id"] for row in pending] == [f"s{n:03d}" for n in range(303, 450, 2)]
    assert [row["id"] for row in before] == [f"s{n:03d}" for n in range(303, 350, 2)]
    assert all(rows[send_id].handed_off and rows[send_id].due_at == due for send_id, due in moved.items())
    assert all(rows[send_id].handed_off and rows[send_id].due_at == T0 + timedelta(seconds=int(send_id[1:]), hours=1)
               for send_id in kept)
    assert not rows["s449"].handed_off
