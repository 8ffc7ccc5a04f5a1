"""ingest's tables and its repository.

Recording is the hot path, so it uses SQLAlchemy Core statements on one connection (a
batch of events costs a few statements, not a few per event); the tables are still
SQLModel classes, and their schema changes only through migrations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, Text, UniqueConstraint, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

# SQLite autoincrements only an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_SEQUENCE = BigInteger().with_variant(Integer, "sqlite")


class IngestTable(SQLModel, registry=registry()):
    """Base of ingest's tables: their own metadata, so migrations see only these."""


metadata = IngestTable.metadata


class EventRecord(IngestTable, table=True):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("workspace_id", "message_id", name="uq_event_message_id"),
        Index("ix_event_profile_time", "workspace_id", "profile_id", "timestamp"),
    )
    id: int | None = Field(default=None, sa_column=Column(_SEQUENCE, primary_key=True, autoincrement=True))
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


class OutboxRecord(IngestTable, table=True):
    """Recorded events not yet acknowledged by campaign's OnEvents, in recording order."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, sa_column=Column(_SEQUENCE, primary_key=True, autoincrement=True))
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    profile_id: str = Field(max_length=40, index=True)


EVENT = EventRecord.__table__
EVENT_NAME = EventNameRecord.__table__
EVENT_COUNT = EventCountRecord.__table__
PROPERTY_SET = PropertySetRecord.__table__
OUTBOX = OutboxRecord.__table__


def _insert(connection: Connection, table):
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_new_events(connection: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Inserts events whose message id is new; returns {message_id: event id} of those inserted."""
    if not rows:
        return {}
    statement = (
        _insert(connection, EVENT)
        .on_conflict_do_nothing(index_elements=["workspace_id", "message_id"])
        .returning(EVENT.c.message_id, EVENT.c.id)
    )
    result = connection.execute(statement, rows)
    return {message_id: event_id for message_id, event_id in result.all()}


def known_message_ids(connection: Connection, workspace_id: str, message_ids: Iterable[str]) -> set[str]:
    ids = list(message_ids)
    if not ids:
        return set()
    rows = connection.execute(
        select(EVENT.c.message_id).where(EVENT.c.workspace_id == workspace_id, EVENT.c.message_id.in_(ids))
    )
    return set(rows.scalars())


def bump_catalogue(connection: Connection, names: list[dict[str, Any]], counts: list[dict[str, Any]], sets: list[dict[str, Any]]) -> None:
    """Upserts the names seen (last seen), the hourly counts and the property sets of a batch."""
    if names:
        statement = _insert(connection, EVENT_NAME)
        statement = statement.on_conflict_do_update(
            index_elements=["workspace_id", "name"],
            set_={
                "last_seen": func.coalesce(
                    _greatest(connection, EVENT_NAME.c.last_seen, statement.excluded.last_seen),
                    statement.excluded.last_seen,
                ),
                "first_seen": func.coalesce(EVENT_NAME.c.first_seen, statement.excluded.first_seen),
            },
        )
        connection.execute(statement, names)
    if counts:
        statement = _insert(connection, EVENT_COUNT)
        statement = statement.on_conflict_do_update(
            index_elements=["workspace_id", "name", "hour"],
            set_={"count": EVENT_COUNT.c.count + statement.excluded.count},
        )
        connection.execute(statement, counts)
    if sets:
        statement = _insert(connection, PROPERTY_SET)
        statement = statement.on_conflict_do_update(
            index_elements=["workspace_id", "name", "properties"],
            set_={
                "count": PROPERTY_SET.c["count"] + statement.excluded["count"],
                "last_seen": _greatest(connection, PROPERTY_SET.c.last_seen, statement.excluded.last_seen),
            },
        )
        connection.execute(statement, sets)


def _greatest(connection: Connection, a, b):
    # SQLite spells GREATEST as a two-argument MAX.
    return func.greatest(a, b) if connection.dialect.name == "postgresql" else func.max(a, b)


def add_to_outbox(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(OUTBOX.insert(), rows)


def outbox_head(connection: Connection, limit: int) -> Sequence[Any]:
    """The oldest waiting events, in recording order, joined to their event rows."""
    statement = (
        select(OUTBOX.c.id.label("outbox_id"), EVENT)
        .join(EVENT, EVENT.c.id == OUTBOX.c.event_id)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    return connection.execute(statement).all()


def remove_from_outbox(connection: Connection, outbox_ids: list[int]) -> None:
    if outbox_ids:
        connection.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(outbox_ids)))


def outbox_size(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(OUTBOX)).scalar_one()
