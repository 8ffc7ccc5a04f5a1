"""Hands recorded events to campaign's OnEvents, durably and in recording order.

The outbox is the event log and a durable cursor: the id of the last event campaign
acknowledged. Event ids are committed in increasing order (see store.reserve_event_ids), so
the events past the cursor are exactly those campaign has not had. While campaign is down or
slow they wait (across restarts too) and go out, oldest first, once it answers. Delivery is
at least once: a crash between campaign's answer and the cursor update sends those events
again with the same ids, and campaign ignores an event id it has seen.

Reading back what was just written costs more than writing it (row decoding, time parsing),
so events committed by this process also wait in memory, and the dispatcher reads the
database only when memory does not start right after the cursor: after a restart, after a
backlog larger than memory_limit, after a privacy purge, or when another ingest process
(a replica on PostgreSQL) committed events in between. When memory runs empty the dispatcher
waits to be woken by the next commit; only after a second with no local commit does it look
in the database, for events another process recorded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

import grpc
import structlog
from herald.campaign.v1 import campaign_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common.aio import BlockingRunner
from herald_common.clients import CampaignClient
from herald_common.metrics import count_outbox_delivered, set_outbox_backlog
from herald_services.ingest import store
from sqlalchemy import Engine

log = structlog.get_logger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# (id, workspace_id, message_id, type, name, profile_id, user_id, anonymous_id,
#  properties_json, context_json, timestamp, received_at) - the event table's column order.
EventTuple = tuple


def _micros(value: datetime) -> int:
    delta = value - _EPOCH if value.tzinfo else value.replace(tzinfo=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def add_event(events, row: EventTuple) -> ingest_pb2.Event:
    """Appends one event to a repeated Event field, built in place (no copy)."""
    (event_id, workspace_id, message_id, kind, name, profile_id, user_id, anonymous_id,
     properties, context, timestamp, received_at) = row
    event = events.add(
        id=str(event_id),
        workspace_id=workspace_id,
        message_id=message_id,
        type=kind,
        name=name,
        profile_id=profile_id,
        user_id=user_id or "",
        anonymous_id=anonymous_id or "",
        properties_json=properties.encode() if isinstance(properties, str) else properties,
        context_json=context.encode() if isinstance(context, str) else context,
        sequence=event_id,
    )
    seconds, micros = divmod(_micros(timestamp), 1_000_000)
    event.timestamp.seconds, event.timestamp.nanos = seconds, micros * 1000
    seconds, micros = divmod(_micros(received_at), 1_000_000)
    event.received_at.seconds, event.received_at.nanos = seconds, micros * 1000
    return event


class OutboxDispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        runner: BlockingRunner,
        campaign: CampaignClient,
        batch_size: int = 1000,
        max_backoff: float = 10.0,
        memory_limit: int = 100_000,
        cursor_every: float = 0.25,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.campaign = campaign
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.memory_limit = memory_limit
        # The cursor is written at most this often (each write is a commit with an fsync);
        # a crash in between re-sends at most that much, which campaign ignores by event id.
        self.cursor_every = cursor_every
        self._cursor_written: int | None = None
        self._cursor_written_at = 0.0
        self._recent: deque[EventTuple] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._cursor: int | None = None
        self._last_recorded = 0  # the highest event id known to be committed, for the backlog gauge
        # True when the database may hold events past the cursor that memory does not.
        self._look_in_database = True
        self.delivered = 0

    def committed(self, rows: Iterable[EventTuple]) -> None:
        """Called (from the database thread) once rows are committed, in id order."""
        if len(self._recent) < self.memory_limit:
            self._recent.extend(rows)
        else:
            self._recent.clear()  # campaign is behind: the database has them all
            self._look_in_database = True
        self._last_recorded = max(self._last_recorded, rows[-1][0])
        self._publish_backlog()

    def _publish_backlog(self) -> None:
        if self._cursor is not None:
            set_outbox_backlog(self._last_recorded - self._cursor)

    def forget(self) -> None:
        """Drops what waits in memory (a purge deleted events); the database is the truth."""
        self._recent.clear()
        self._look_in_database = True

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
        await self._write_cursor(force=True)

    async def _write_cursor(self, *, force: bool = False) -> None:
        if self._cursor is None or self._cursor == self._cursor_written:
            return
        now = asyncio.get_running_loop().time()
        if not force and now - self._cursor_written_at < self.cursor_every:
            return
        cursor = self._cursor
        await self.runner.run(self._acknowledge, cursor)
        self._cursor_written, self._cursor_written_at = cursor, now

    def _from_memory(self) -> list[EventTuple] | None:
        """The next events from memory; [] when memory holds nothing new, None when memory
        does not start right after the cursor (the database must be read)."""
        recent = self._recent
        while recent and recent[0][0] <= self._cursor:
            recent.popleft()
        if not recent:
            return []
        if recent[0][0] != self._cursor + 1:
            return None
        taken = []
        for _ in range(min(self.batch_size, len(recent))):
            taken.append(recent.popleft())
        return taken

    def _from_database(self) -> list[EventTuple]:
        self._look_in_database = False
        with self.engine.connect() as connection:
            if self._cursor is None:
                self._cursor = self._cursor_written = store.delivered_cursor(connection)
                self._last_recorded = max(self._last_recorded, store.last_event_id(connection))
                self._publish_backlog()
            return [tuple(row) for row in store.events_after(connection, self._cursor, self.batch_size)]

    def _acknowledge(self, event_id: int) -> None:
        with self.engine.begin() as connection:
            store.advance_delivered_cursor(connection, event_id)

    async def _run(self) -> None:
        backoff = 0.0
        blocked = False
        pending: list[EventTuple] = []
        while True:
            if backoff:
                await asyncio.sleep(backoff)
            if not pending:
                pending = None if self._cursor is None or self._look_in_database else self._from_memory()
                if pending is None:
                    pending = await self.runner.run(self._from_database)
                    if len(pending) == self.batch_size:
                        self._look_in_database = True  # there is more
            if not pending:
                # Caught up. Under load that happens after nearly every commit, so the cursor
                # is not written here at once (a commit and an fsync each time, a tenth of the
                # database thread's time): only once no event has come for cursor_every.
                self._wake.clear()
                if not self._recent:
                    unwritten = self._cursor is not None and self._cursor != self._cursor_written
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=self.cursor_every if unwritten else 1.0)
                    except TimeoutError:
                        if unwritten:
                            await self._write_cursor(force=True)
                        else:
                            self._look_in_database = True  # a quiet second: check for others' events
                continue
            request = campaign_pb2.OnEventsRequest()
            for row in pending:
                add_event(request.events, row)
            try:
                await self.campaign.send_events(request)
            except grpc.aio.AioRpcError as error:
                backoff = min(self.max_backoff, max(0.2, backoff * 2))
                if not blocked:
                    log.warning("outbox_blocked", campaign=self.campaign.address, code=error.code().name,
                                waiting=len(pending), retry_in=backoff)
                blocked = True
                continue
            self._cursor = pending[-1][0]
            await self._write_cursor()
            self.delivered += len(pending)
            count_outbox_delivered(len(pending))
            self._publish_backlog()
            pending = []
            if blocked:
                log.info("outbox_resumed", campaign=self.campaign.address)
            blocked, backoff = False, 0.0
