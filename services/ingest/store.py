"""ingest's tables and its repository.

Recording is the hot path, so it uses SQLAlchemy Core statements and the driver's own
executemany on one connection (a group of batches costs a few statements, not a few per
event); the tables are still SQLModel classes, and their schema changes only through
migrations.

The outbox is the event log itself: event ids are handed out from a counter row that every
recording transaction updates first, so on SQLite and on PostgreSQL alike ids are committed
in increasing order, and "every event after the delivered cursor" is exactly what campaign
has not acknowledged yet.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from herald_common.bulk import insert_rows
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

# On SQLite an INTEGER PRIMARY KEY is the rowid (no second index); 64-bit on PostgreSQL.
_EVENT_ID = BigInteger().with_variant(Integer, "sqlite")
LAST_EVENT_ID = "last_event_id"  # the last event id handed out
DELIVERED_EVENT_ID = "delivered_event_id"
INDEXED_EVENT_ID = "indexed_event_id"  # event_by_profile holds every event up to it
# On SQLite these live in ingest's attached `profile_index` database (ingest-profile-index.db),
# so that building the per-user index never holds the event log's write lock: attached database
# -> its tables, for migrations and the migration test to look for them there.
SQLITE_ATTACHED_TABLES = {"profile_index": ("event_by_profile", "event_by_profile_state")}


class IngestTable(SQLModel, registry=registry()):
    """Base of ingest's tables: their own metadata, so migrations see only these."""


metadata = IngestTable.metadata


class EventRecord(IngestTable, table=True):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("workspace_id", "message_id", name="uq_event_message_id"),
        # An event's latest occurrences (the console's event page). Entries go in at the end of
        # their name's range (ids increase), so recording writes a few hot pages, not random ones.
        # Name first: a query on the workspace alone is never tempted by it.
        Index("ix_event_name", "name", "workspace_id", "id"),
    )
    id: int = Field(sa_column=Column(_EVENT_ID, primary_key=True, autoincrement=False))
    workspace_id: str = Field(max_length=64)
    message_id: str = Field(max_length=400)
    type: str = Field(max_length=8)
    name: str = Field(max_length=520)
    profile_id: str = Field(max_length=40)
    user_id: str | None = Field(default=None, max_length=400)
    anonymous_id: str | None = Field(default=None, max_length=400)
    properties: str = Field(sa_column=Column(Text, nullable=False))  # JSON object
    context: str = Field(sa_column=Column(Text, nullable=False))  # JSON object
    timestamp: datetime
    received_at: datetime


class EventByProfileRecord(IngestTable, table=True):
    """A user's events by time, built behind the event log in sorted batches (see
    profile_index.py) rather than by every recording transaction: an index keyed by user is
    written at a random place per event, which cost recording more than the event itself."""

    __tablename__ = "event_by_profile"
    __table_args__ = {"sqlite_with_rowid": False}
    workspace_id: str = Field(primary_key=True, max_length=64)
    profile_id: str = Field(primary_key=True, max_length=40)
    timestamp: datetime = Field(primary_key=True)
    event_id: int = Field(sa_column=Column(_EVENT_ID, primary_key=True, autoincrement=False))


class EventByProfileStateRecord(IngestTable, table=True):
    """How far event_by_profile has got, beside it (the same file on SQLite), so the indexer's
    transactions write nothing of the event log's database."""

    __tablename__ = "event_by_profile_state"
    key: str = Field(primary_key=True, max_length=40)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class EventNameRecord(IngestTable, table=True):
    """One row per event name of the catalogue."""

    __tablename__ = "event_name"
    workspace_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=520)
    hidden: bool = False
    defined_by_hand: bool = False
    description: str = Field(default="", max_length=2000)
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class EventCountRecord(IngestTable, table=True):
    """Times seen per event name per hour: the catalogue's 24-hour and 30-day counts."""

    __tablename__ = "event_count"
    workspace_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=520)
    hour: datetime = Field(primary_key=True)
    count: int = 0


class PropertySetRecord(IngestTable, table=True):
    """A distinct set of property names seen with an event: one of its 'definitions'."""

    __tablename__ = "property_set"
    workspace_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=520)
    properties: str = Field(primary_key=True, max_length=4000)  # JSON list of sorted names
    count: int = 0
    first_seen: datetime
    last_seen: datetime


class IngestStateRecord(IngestTable, table=True):
    """Counters: the last event id handed out, and the last event id campaign acknowledged."""

    __tablename__ = "ingest_state"
    key: str = Field(primary_key=True, max_length=40)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


EVENT = EventRecord.__table__
EVENT_BY_PROFILE = EventByProfileRecord.__table__
EVENT_BY_PROFILE_STATE = EventByProfileStateRecord.__table__
EVENT_NAME = EventNameRecord.__table__
EVENT_COUNT = EventCountRecord.__table__
PROPERTY_SET = PropertySetRecord.__table__
STATE = IngestStateRecord.__table__


def dialect_insert(connection: Connection, table):
    """INSERT with the dialect's ON CONFLICT support (SQLite or PostgreSQL)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def reserve_event_ids(connection: Connection, count: int) -> int:
    """Hands out count consecutive event ids; returns the first.

    Updating the counter row first also orders concurrent recording transactions on
    PostgreSQL (the row lock is held to commit), so ids become visible in increasing order.
    """
    last = connection.execute(_RESERVE, {"count": count}).scalar_one()
    return last - count + 1


_RESERVE = (
    update(STATE)
    .where(STATE.c.key == LAST_EVENT_ID)
    .values(value=STATE.c.value + bindparam("count"))
    .returning(STATE.c.value)
)


_EVENT_COLUMNS = ("id", "workspace_id", "message_id", "type", "name", "profile_id", "user_id", "anonymous_id",
                  "properties", "context", "timestamp", "received_at")


def insert_events(connection: Connection, rows: list[tuple]) -> int:
    """Inserts rows (tuples in _EVENT_COLUMNS order, times aware); a row whose (workspace,
    message id) is already there is skipped. Returns how many went in."""
    return insert_rows(connection, EVENT, rows, columns=_EVENT_COLUMNS, skip_conflicts_on=("workspace_id", "message_id"))


def event_ids_between(connection: Connection, first: int, last: int) -> set[int]:
    return set(connection.execute(select(EVENT.c.id).where(EVENT.c.id.between(first, last))).scalars())


@functools.cache
def _catalogue_statements(dialect_name: str):
    """The three upserts of bump_catalogue, built once per dialect: building and cache-keying
    them per call cost ~4 ms, more than the writes themselves."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    greatest = func.greatest if dialect_name == "postgresql" else func.max  # SQLite's two-argument MAX

    names = dialect.insert(EVENT_NAME)
    names = names.on_conflict_do_update(
        index_elements=["workspace_id", "name"],
        set_={
            "last_seen": func.coalesce(greatest(EVENT_NAME.c.last_seen, names.excluded.last_seen), names.excluded.last_seen),
            "first_seen": func.coalesce(EVENT_NAME.c.first_seen, names.excluded.first_seen),
        },
    )
    counts = dialect.insert(EVENT_COUNT)
    counts = counts.on_conflict_do_update(
        index_elements=["workspace_id", "name", "hour"],
        set_={"count": EVENT_COUNT.c["count"] + counts.excluded["count"]},
    )
    sets = dialect.insert(PROPERTY_SET)
    sets = sets.on_conflict_do_update(
        index_elements=["workspace_id", "name", "properties"],
        set_={
            "count": PROPERTY_SET.c["count"] + sets.excluded["count"],
            "last_seen": greatest(PROPERTY_SET.c.last_seen, sets.excluded.last_seen),
        },
    )
    return names, counts, sets


def bump_catalogue(connection: Connection, names: list[dict[str, Any]], counts: list[dict[str, Any]], sets: list[dict[str, Any]]) -> None:
    """Upserts the names seen (last seen), the hourly counts and the property sets of a batch."""
    names_statement, counts_statement, sets_statement = _catalogue_statements(connection.dialect.name)
    for statement, rows in ((names_statement, names), (counts_statement, counts), (sets_statement, sets)):
        if rows:
            connection.execute(statement, rows)


def last_event_id(connection: Connection) -> int:
    """The last event id handed out (read for the outbox backlog metric)."""
    return connection.execute(select(STATE.c.value).where(STATE.c.key == LAST_EVENT_ID)).scalar_one()


def delivered_cursor(connection: Connection) -> int:
    return connection.execute(select(STATE.c.value).where(STATE.c.key == DELIVERED_EVENT_ID)).scalar_one()


def advance_delivered_cursor(connection: Connection, event_id: int) -> None:
    connection.execute(update(STATE).where(STATE.c.key == DELIVERED_EVENT_ID, STATE.c.value < event_id).values(value=event_id))


def events_after(connection: Connection, cursor: int, limit: int) -> Sequence[Any]:
    """Events campaign has not acknowledged yet, oldest first."""
    return connection.execute(select(EVENT).where(EVENT.c.id > cursor).order_by(EVENT.c.id).limit(limit)).all()