"""Hands recorded events to campaign's OnEvents, durably and in recording order.

The outbox is the event log and a durable cursor: the id of the last event campaign
acknowledged. Event ids are committed in increasing order (see store.reserve_event_ids), so
the events past the cursor are exactly those campaign has not had. While campaign is down or
slow they wait (across restarts too) and go out, oldest first, once it answers. Delivery is
at least once: a crash between campaign's answer and the cursor update sends those events
again with the same ids, and campaign ignores an event id it has seen.
"""

from __future__ import annotations

import asyncio

import grpc
import structlog
from sqlalchemy import Engine

from herald.ingest.v1 import ingest_pb2
from herald_common.aio import BlockingRunner
from herald_common.clients import CampaignClient
from herald_common.protoconv import set_timestamp
from herald_services.ingest import store

log = structlog.get_logger(__name__)


def event_message(row) -> ingest_pb2.Event:
    message = ingest_pb2.Event(
        id=str(row.id),
        workspace_id=row.workspace_id,
        message_id=row.message_id,
        type=row.type,
        name=row.name,
        profile_id=row.profile_id,
        user_id=row.user_id or "",
        anonymous_id=row.anonymous_id or "",
        properties_json=row.properties.encode(),
        context_json=row.context.encode(),
        sequence=row.id,
    )
    set_timestamp(message.timestamp, row.timestamp)
    set_timestamp(message.received_at, row.received_at)
    return message


class OutboxDispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        runner: BlockingRunner,
        campaign: CampaignClient,
        batch_size: int = 1000,
        max_backoff: float = 10.0,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.campaign = campaign
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._cursor: int | None = None
        self.delivered = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _head(self):
        with self.engine.connect() as connection:
            if self._cursor is None:
                self._cursor = store.delivered_cursor(connection)
            return store.events_after(connection, self._cursor, self.batch_size)

    def _acknowledge(self, event_id: int) -> None:
        with self.engine.begin() as connection:
            store.advance_delivered_cursor(connection, event_id)
        self._cursor = event_id

    async def _run(self) -> None:
        backoff = 0.0
        blocked = False
        while True:
            if backoff:
                await asyncio.sleep(backoff)
            rows = await self.runner.run(self._head)
            if not rows:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                continue
            events = [event_message(row) for row in rows]
            try:
                await self.campaign.on_events(events)
            except grpc.aio.AioRpcError as error:
                backoff = min(self.max_backoff, max(0.2, backoff * 2))
                if not blocked:
                    log.warning("outbox_blocked", campaign=self.campaign.address, code=error.code().name,
                                waiting=len(rows), retry_in=backoff)
                blocked = True
                continue
            await self.runner.run(self._acknowledge, rows[-1].id)
            self.delivered += len(rows)
            if blocked:
                log.info("outbox_resumed", campaign=self.campaign.address)
            blocked, backoff = False, 0.0
