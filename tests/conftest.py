"""Fixtures every layer shares: settings on a real SQLite file or a real PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from herald_common.clock import use_pinned_tzdata
from herald_common.db import normalise_url
from herald_common.settings import SERVICES, Settings
from sqlalchemy import create_engine, text

use_pinned_tzdata()

POSTGRES_URL = os.environ.get("HERALD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(normalise_url(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure means: no PostgreSQL here
        return f"{type(error).__name__}: {error}"


_POSTGRES_PROBLEM = _postgres_reachable()


def require_postgres() -> None:
    """Skips where no PostgreSQL answers; fails instead under HERALD_REQUIRE_POSTGRES=1 (CI)."""
    if _POSTGRES_PROBLEM is None:
        return
    if os.environ.get("HERALD_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here but unreachable at {POSTGRES_URL}: {_POSTGRES_PROBLEM}")
    pytest.skip(f"no PostgreSQL reachable at {POSTGRES_URL}")


def drop_schemas(prefix: str) -> None:
    engine = create_engine(normalise_url(POSTGRES_URL))
    with engine.begin() as connection:
        for service in SERVICES:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{service}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path) -> Iterator[Settings]:
    """Settings for one test: SQLite files in tmp_path, or a fresh schema set on PostgreSQL."""
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path, database_url=None, sqlite_synchronous="NORMAL")
        return
    require_postgres()
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield Settings(data_dir=tmp_path, database_url=POSTGRES_URL, database_schema_prefix=prefix)
    drop_schemas(prefix)


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=None, sqlite_synchronous="NORMAL")
