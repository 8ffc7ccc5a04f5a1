"""The body of every service's Alembic env.py: run migrations on the connection herald passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData


def run(metadata: MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    engine = config.attributes.get("engine")
    if connection is None and engine is None:
        raise RuntimeError("herald runs migrations through `herald migrate`, which passes the connection")
    if connection is None:
        with engine.begin() as connection:
            _run_on(connection, metadata)
    else:
        _run_on(connection, metadata)


def _run_on(connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
