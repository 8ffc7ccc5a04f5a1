"""Builds `event_by_profile` (a user's events by time) behind the event log, in batches.

An index keyed by user lands at a random place for every event, so maintaining it inside
each recording transaction dirtied a page per event: more work than the event row itself,
and most of what each commit wrote. Here the events past the cursor in
`event_by_profile_state` are copied into `event_by_profile` every `interval` seconds (or at
once while a backlog remains), in key order and one transaction per batch, so each page of
the index is written once per batch rather than once per event.

On SQLite both tables live in a database file of their own (ingest-profile-index.db, attached
to every ingest connection as `profile_index`), and the indexer runs on a thread and
connection of its own: its transaction reads the event log (a WAL reader never waits) and
writes only that file, so a batch never holds up recording. (In the event log's file, each
batch held the single writer for a quarter to a third of a second, which was most of recording's
p99 latency.) On PostgreSQL both tables are in ingest's schema, and ingest replicas take
turns through a lock on the cursor row; copying is idempotent anyway (ON CONFLICT DO NOTHING).

Readers never miss an event: a user's events are those in `event_by_profile` plus those in
the event log past the cursor (a few seconds' worth, read by id range). The cursor is read
first, so the log is read later than the index and holds everything the cursor covers.
"""

from __future__ import annotations

import asyncio
import threading

import structlog
from herald_services.ingest import store
from sqlalchemy import Connection, Engine, select, update

log = structlog.get_logger(__name__)

EVENT, BY_PROFILE, CURSOR = store.EVENT, store.EVENT_BY_PROFILE, store.EVENT_BY_PROFILE_STATE


def indexed_cursor(connection: Connection, *, lock: bool = False) -> int:
    statement = select(CURSOR.c.value).where(CURSOR.c.key == store.INDEXED_EVENT_ID)
    return connection.execute(statement.with_for_update() if lock else statement).scalar_one()


def index_batch(connection: Connection, limit: int) -> int:
    """Copies the next events (at most limit ids) past the cursor; returns how many ids it advanced."""
    # Locked (PostgreSQL) so replicas take turns instead of copying the same batch twice.
    cursor = indexed_cursor(connection, lock=True)
    # Every id up to the last one handed out is committed (or was a duplicate's, never used):
    # ids are reserved under the counter row's lock, held until commit.
    last = store.last_event_id(connection)
    upto = min(last, cursor + limit)
    if upto <= cursor:
        return 0
    insert = store.dialect_insert(connection, BY_PROFILE)
    source = (
        select(EVENT.c.workspace_id, EVENT.c.profile_id, EVENT.c.timestamp, EVENT.c.id)
        .where(EVENT.c.id > cursor, EVENT.c.id <= upto)
        .order_by(EVENT.c.workspace_id, EVENT.c.profile_id, EVENT.c.timestamp, EVENT.c.id)
    )
    connection.execute(
        insert.from_select(["workspace_id", "profile_id", "timestamp", "event_id"], source).on_conflict_do_nothing()
    )
    connection.execute(
        update(CURSOR).where(CURSOR.c.key == store.INDEXED_EVENT_ID, CURSOR.c.value < upto).values(value=upto)
    )
    return upto - cursor


class ProfileIndexer:
    """Runs index_batch on its own runner (one thread). `exclusive` is held by each
    batch; a privacy purge holds it too, so it never races a batch that read the events it
    deletes (which would leave an index row pointing at nothing)."""

    def __init__(self, *, engine: Engine, runner, interval: float = 2.0, batch: int = 100_000) -> None:
        self.engine = engine
        self.runner = runner
        self.interval = interval
        self.batch = batch
        self.exclusive = threading.Lock()
        self._task: asyncio.Task | None = None

    def run_once(self) -> int:
        with self.exclusive, self.engine.begin() as connection:
            return index_batch(connection, self.batch)

    async def _run(self) -> None:
        while True:
            try:
                advanced = await self.runner.run(self.run_once)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep going: readers still see unindexed events in the log
                log.exception("profile_index_failed")
                advanced = 0
            if advanced < self.batch:
                await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="profile-indexer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
