"""Each service's migrations build exactly the tables its code declares, on SQLite and PostgreSQL,
and a service refuses to start on a schema that is behind."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from herald_common.db import create_service_engine, head_revision, migrate, require_current_schema
from herald_common.errors import FailedPrecondition
from herald_common.migrations import as_stored

SERVICES_WITH_TABLES = ["identity", "ingest", "campaign", "delivery"]


@pytest.mark.parametrize("service", SERVICES_WITH_TABLES)
def test_migrations_match_the_declared_tables(settings, service):
    engine = create_service_engine(settings, service)
    migrate(engine, service)
    store = importlib.import_module(f"herald_services.{service}.store")
    # ingest keeps its per-user index in an attached database on SQLite: compared there.
    attached = getattr(store, "SQLITE_ATTACHED_TABLES", None)
    with engine.connect() as connection:
        metadata = as_stored(store.metadata, connection.dialect.name, attached)
        opts = {"compare_type": True, "include_schemas": metadata is not store.metadata}
        differences = compare_metadata(MigrationContext.configure(connection, opts=opts), metadata)
    engine.dispose()
    assert differences == [], f"{service}: tables differ from migrations; write one with scripts/makemigration.py"


@pytest.mark.parametrize("service", SERVICES_WITH_TABLES)
def test_a_schema_behind_the_code_is_refused_with_the_command_to_run(settings, service):
    engine = create_service_engine(settings, service)
    with pytest.raises(FailedPrecondition) as refused:
        require_current_schema(engine, service)
    assert "herald migrate" in str(refused.value) and head_revision(service) in str(refused.value)
    migrate(engine, service)
    require_current_schema(engine, service)
    engine.dispose()
