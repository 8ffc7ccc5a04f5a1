"""The outbox's delivered cursor: written rarely under a stream of events, and soon once it stops."""

from __future__ import annotations

import asyncio

from herald.ingest.v1 import ingest_pb2 as pb
from herald_services.ingest import store

from tests.integration.conftest import WORKSPACE
from tests.integration.ingest.test_ingest_rpc import track


def _cursor(services) -> int:
    engine = services.ingest_service.extras["dispatcher"].engine
    with engine.connect() as connection:
        return store.delivered_cursor(connection)


async def test_cursor_is_written_rarely_while_events_stream_and_soon_after_they_stop(services):
    dispatcher = services.ingest_service.extras["dispatcher"]
    writes = []
    acknowledge = dispatcher._acknowledge

    def counting(event_id):
        writes.append(event_id)
        acknowledge(event_id)

    dispatcher._acknowledge = counting
    batches = 40
    for batch in range(batches):
        events = [track(f"c{batch}-{i}", user_id=f"u{i}") for i in range(5)]
        await services.ingest.record(pb.RecordRequest(workspace_id=WORKSPACE, events=events))
        await services.campaign.wait_for((batch + 1) * 5, timeout=10)
    # Each batch was handed on and the dispatcher caught up after each one; the cursor was
    # still not written once per batch (a commit and an fsync each time).
    assert len(writes) < batches / 2
    # Once events stop, the cursor catches up within about cursor_every.
    for _ in range(40):
        if _cursor(services) == batches * 5:
            break
        await asyncio.sleep(0.05)
    assert _cursor(services) == batches * 5
