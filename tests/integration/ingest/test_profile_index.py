"""A user's events through event_by_profile, built behind the log: reads see indexed and
not-yet-indexed events alike, a purge removes both, and the migration copies existing events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from herald.ingest.v1 import ingest_pb2 as pb
from herald_common.db import _alembic_config, create_service_engine, migrate
from herald_services.ingest import store
from herald_services.ingest.profile_index import index_batch, indexed_cursor
from sqlalchemy import func, insert, select

from tests.integration.conftest import WORKSPACE
from tests.integration.ingest.test_ingest_rpc import RECEIVED, record, track


def _indexer(services):
    return services.ingest_service.extras["indexer"]


async def test_a_users_events_are_found_before_and_after_indexing_and_purged_from_both(services):
    indexer = _indexer(services)
    await record(services, *(track(f"a{n}", user_id="ada", timestamp=(RECEIVED + timedelta(minutes=n)).isoformat())
                             for n in range(5)))
    await record(services, track("b0", user_id="bob"))
    await services.campaign.wait_for(6)
    indexer.run_once()  # a0..a4 and b0 are now in event_by_profile
    await record(services, *(track(f"a{n}", user_id="ada", timestamp=(RECEIVED + timedelta(minutes=n)).isoformat())
                             for n in range(5, 8)))  # these are not yet
    events = (await services.ingest.list_user_events(WORKSPACE, "ada", 6)).events
    assert [e.message_id for e in events] == ["a7", "a6", "a5", "a4", "a3", "a2"]
    indexer.run_once()
    again = (await services.ingest.list_user_events(WORKSPACE, "ada", 100)).events
    assert [e.message_id for e in again] == [f"a{n}" for n in range(7, -1, -1)]

    await record(services, track("a8", user_id="ada"))  # one more in the log only
    deleted = await services.identity.delete_user(WORKSPACE, "ada")
    assert deleted.events_deleted == 9
    engine = create_service_engine(services.settings, "ingest")
    try:
        with engine.connect() as connection:
            left = connection.execute(select(store.EVENT.c.message_id)).scalars().all()
            by_profile = connection.execute(select(func.count()).select_from(store.EVENT_BY_PROFILE)).scalar_one()
    finally:
        engine.dispose()
    assert left == ["b0"] and by_profile == 1
    assert [e.message_id for e in (await services.ingest.list_user_events(WORKSPACE, "bob")).events] == ["b0"]


def test_the_migration_copies_existing_events_and_indexing_goes_on_from_there(settings):
    engine = create_service_engine(settings, "ingest")
    try:
        command.upgrade(_alembic_config("ingest", engine), "ingest_0001")
        at = datetime(2026, 11, 1, tzinfo=UTC)
        with engine.begin() as connection:
            connection.execute(insert(store.EVENT), [
                {"id": n, "workspace_id": "w", "message_id": f"m{n}", "type": "track", "name": "[Segment] X",
                 "profile_id": f"p{n % 2}", "user_id": None, "anonymous_id": None, "properties": "{}", "context": "{}",
                 "timestamp": at + timedelta(seconds=n), "received_at": at}
                for n in (1, 2, 3)
            ])
            connection.execute(store.STATE.update().where(store.STATE.c.key == store.LAST_EVENT_ID).values(value=3))
        migrate(engine, "ingest")
        with engine.begin() as connection:
            assert indexed_cursor(connection) == 3
            copied = connection.execute(select(store.EVENT_BY_PROFILE.c.event_id, store.EVENT_BY_PROFILE.c.timestamp)).all()
            assert sorted(copied) == [(n, at + timedelta(seconds=n)) for n in (1, 2, 3)]
            assert index_batch(connection, 100) == 0  # nothing new
            connection.execute(insert(store.EVENT), [
                {"id": 4, "workspace_id": "w", "message_id": "m4", "type": "track", "name": "[Segment] X",
                 "profile_id": "p0", "user_id": None, "anonymous_id": None, "properties": "{}", "context": "{}",
                 "timestamp": at, "received_at": at}
            ])
            connection.execute(store.STATE.update().where(store.STATE.c.key == store.LAST_EVENT_ID).values(value=6))
            assert index_batch(connection, 100) == 3  # ids 5 and 6 were a duplicate's: skipped over
            assert indexed_cursor(connection) == 6
            assert connection.execute(select(func.count()).select_from(store.EVENT_BY_PROFILE)).scalar_one() == 4
    finally:
        engine.dispose()


def test_replicas_on_postgresql_take_turns_copying(settings):
    """Two ingest processes' indexers at once: the second waits for the first's batch, then
    finds nothing left to copy (SQLite has one writer, so only PostgreSQL can race here)."""
    import threading

    if settings.database_url is None:
        pytest.skip("one SQLite file has one writer: two indexers never run at once")
    engine = create_service_engine(settings, "ingest")
    try:
        migrate(engine, "ingest")
        at = datetime(2026, 11, 1, tzinfo=UTC)
        with engine.begin() as connection:
            connection.execute(insert(store.EVENT), [
                {"id": n, "workspace_id": "w", "message_id": f"m{n}", "type": "track", "name": "[Segment] X",
                 "profile_id": "p", "user_id": None, "anonymous_id": None, "properties": "{}", "context": "{}",
                 "timestamp": at + timedelta(seconds=n), "received_at": at}
                for n in range(1, 51)
            ])
            connection.execute(store.STATE.update().where(store.STATE.c.key == store.LAST_EVENT_ID).values(value=50))
        second: list[int] = []
        with engine.begin() as first:
            assert index_batch(first, 1000) == 50  # holds the cursor row until commit
            other = threading.Thread(target=lambda: second.append(_index_in(engine)))
            other.start()
            other.join(timeout=1.0)
            assert other.is_alive()  # waiting for the first batch's lock
        other.join(timeout=10)
        assert second == [0]
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(store.EVENT_BY_PROFILE)).scalar_one() == 50
    finally:
        engine.dispose()


def _index_in(engine) -> int:
    with engine.begin() as connection:
        return index_batch(connection, 1000)


async def test_recording_never_waits_for_the_per_user_index(services):
    """On SQLite the index has a file of its own: with its write lock held (as by a long
    indexing batch), batches are still recorded and handed on."""
    import sqlite3

    from herald_common.db import sqlite_path

    if services.settings.database_url is not None:
        pytest.skip("PostgreSQL locks rows, not files: the indexer's rows are not the recorder's")
    held = sqlite3.connect(sqlite_path(services.settings, "ingest", "profile_index"), isolation_level=None)
    held.execute("BEGIN IMMEDIATE")
    try:
        await asyncio.wait_for(record(services, *(track(f"h{n}", user_id="hal") for n in range(20))), timeout=5)
        await services.campaign.wait_for(20, timeout=5)
    finally:
        held.execute("ROLLBACK")
        held.close()
    _indexer(services).run_once()
    events = (await services.ingest.list_user_events(WORKSPACE, "hal", 100)).events
    assert sorted(e.message_id for e in events) == sorted(f"h{n}" for n in range(20))


async def test_a_users_latest_event_of_one_name_is_found_in_the_index_and_past_it(services):
    indexer = _indexer(services)
    at = lambda n: (RECEIVED + timedelta(minutes=n)).isoformat()  # noqa: E731
    await record(services, track("o1", user_id="ada", event="Order Completed", timestamp=at(1)),
                 track("v1", user_id="ada", event="Viewed", timestamp=at(2)),
                 track("o2", user_id="bob", event="Order Completed", timestamp=at(3)))
    await services.campaign.wait_for(3)
    indexer.run_once()
    await record(services, track("v2", user_id="ada", event="Viewed", timestamp=at(4)))  # past the index
    newest = await services.ingest.list_user_events(WORKSPACE, "ada", 1, name="[Segment] Order Completed")
    assert [e.message_id for e in newest.events] == ["o1"]
    viewed = await services.ingest.list_user_events(WORKSPACE, "ada", 5, name="[Segment] Viewed")
    assert [e.message_id for e in viewed.events] == ["v2", "v1"]
    assert (await services.ingest.list_user_events(WORKSPACE, "ada", 5, name="[Segment] Never")).events == []
