"""Bulk INSERTs for hot paths, without SQLAlchemy's per-row parameter processing.

SQLAlchemy's executemany runs every value of every row through its type's bind processor (for
an aware datetime, two of them). On SQLite, executemany is also one statement step per row, and
the sqlite3 module gives up the GIL around every step: on a writer thread beside a busy event
loop, taking it back once per row cost more than the insert. `insert_rows` turns rows into
driver values itself and sends them as multi-row INSERTs on SQLite; PostgreSQL gets the
driver's own executemany (psycopg batches it) of the same statement. Values are what the
tables hold: str, int, float, bool, None, and aware datetimes, stored on SQLite as SQLAlchemy
stores them (naive UTC text with microseconds), so reads through SQLAlchemy see the same
values either way.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Table

SQLITE_MAX_VARIABLES = 32_766
MAX_ROWS_PER_STATEMENT = 500


def sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's DateTime stores on SQLite (naive UTC with microseconds)."""
    if value.tzinfo is None:
        raise ValueError("datetimes written to the database must be aware")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]] | Sequence[Sequence[Any]],
    *,
    columns: Sequence[str] | None = None,
    skip_conflicts_on: Sequence[str] | None = None,
) -> int:
    """Inserts rows: dicts with the same keys, or tuples in the order of `columns`. With
    skip_conflicts_on, a row that conflicts on those columns is skipped (ON CONFLICT DO
    NOTHING). Returns how many rows went in."""
    if not rows:
        return 0
    if columns is None:
        columns = tuple(rows[0])
        rows = [tuple(row[c] for c in columns) for row in rows]
    columns = tuple(columns)
    conflict = tuple(skip_conflicts_on or ())
    if connection.dialect.name != "sqlite":
        for row in rows:
            for column, value in zip(columns, row):
                if type(value) is datetime and value.tzinfo is None:
                    raise ValueError(f"{table.name}.{column}: datetimes written to the database must be aware")
        sql = _insert_sql(table.name, columns, 1, conflict, "%s")
        return connection.exec_driver_sql(sql, list(rows)).rowcount
    per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, SQLITE_MAX_VARIABLES // len(columns)))
    time_positions = _time_positions(table, columns)
    times: dict[datetime, str] = {}
    inserted = 0
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values: list[Any] = []
        extend = values.extend
        # A row goes in whole; only its time columns are then rewritten (checking the type of
        # every value cost more than the insert's own statement step).
        for row in chunk:
            base = len(values)
            extend(row)
            for position in time_positions:
                value = values[base + position]
                if type(value) is datetime:
                    text = times.get(value)
                    if text is None:
                        text = times[value] = sqlite_time(value)
                    values[base + position] = text
        sql = _insert_sql(table.name, columns, len(chunk), conflict, "?")
        inserted += connection.exec_driver_sql(sql, tuple(values)).rowcount
    return inserted


@functools.lru_cache(maxsize=64)
def _time_positions(table: Table, columns: tuple[str, ...]) -> tuple[int, ...]:
    """Where the date-time columns are among columns."""
    positions = []
    for position, name in enumerate(columns):
        kind = table.c[name].type
        # SQLModel's datetime columns are a TypeDecorator over DateTime.
        if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl_instance", None), DateTime):
            positions.append(position)
    return tuple(positions)


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], count: int, conflict: tuple[str, ...], mark: str) -> str:
    marks = "(" + ", ".join([mark] * len(columns)) + ")"
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join([marks] * count)
    if conflict:
        sql += " ON CONFLICT (" + ", ".join(f'"{c}"' for c in conflict) + ") DO NOTHING"
    return sql
