"""The body of every service's Alembic env.py: run migrations on the connection herald passes in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alembic import context
from sqlalchemy import MetaData


def run(metadata: MetaData, *, sqlite_attached: Mapping[str, Sequence[str]] | None = None) -> None:
    """sqlite_attached: attached database name -> the tables the service keeps there on SQLite
    (herald_common.db.SQLITE_ATTACHED attaches them), so autogenerate looks for them there."""
    config = context.config
    connection = config.attributes.get("connection")
    engine = config.attributes.get("engine")
    if connection is None and engine is None:
        raise RuntimeError("herald runs migrations through `herald migrate`, which passes the connection")
    if connection is None:
        with engine.begin() as connection:
            _run_on(connection, metadata, sqlite_attached)
    else:
        _run_on(connection, metadata, sqlite_attached)


def as_stored(metadata: MetaData, dialect_name: str, sqlite_attached: Mapping[str, Sequence[str]] | None) -> MetaData:
    """The tables where the database keeps them: on SQLite, those of an attached database
    under its schema name; elsewhere, metadata as declared."""
    if dialect_name != "sqlite" or not sqlite_attached:
        return metadata
    schema_of = {table: schema for schema, tables in sqlite_attached.items() for table in tables}
    stored = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(stored, schema=schema_of.get(table.name))
    return stored


def _run_on(connection, metadata: MetaData, sqlite_attached) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=as_stored(metadata, connection.dialect.name, sqlite_attached),
        include_schemas=bool(sqlite and sqlite_attached),
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
