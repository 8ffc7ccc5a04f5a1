"""One storage module on SQLModel for every service.

With no configuration a service keeps its tables in its own SQLite file (WAL) under
HERALD_DATA_DIR; with HERALD_DATABASE_URL (or HERALD_<SERVICE>_DATABASE_URL) it uses
PostgreSQL, each service in its own schema. Tables change only through each service's
Alembic migrations (`herald migrate`); a service refuses to start on a schema that is behind.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from herald_common.errors import FailedPrecondition
from herald_common.settings import Settings


def _services_root() -> Path:
    """Where the herald_services package lives: services/ in a checkout, site-packages when installed."""
    spec = importlib.util.find_spec("herald_services")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("herald_services is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


SERVICES_ROOT = _services_root()
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
WAL_AUTOCHECKPOINT_PAGES = 10_000

# SQLite databases a service keeps beside its own file, attached to each of its connections
# under these names. SQLite has one writer per file, so a table that a background job rewrites
# in bulk lives in its own file, where that job never holds up the service's own commits.
# Unqualified names find a table in an attached file when the main one has none, so the same
# statements serve SQLite and PostgreSQL (where the tables are in the service's schema).
SQLITE_ATTACHED: dict[str, tuple[str, ...]] = {"ingest": ("profile_index",)}


def json_text(value) -> str:
    """JSON as the engines store it (their json_serializer)."""
    return orjson.dumps(value).decode()


def normalise_url(url: str) -> str:
    """postgres:// and postgresql:// both mean psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def ensure_database(url: str) -> bool:
    """Creates the PostgreSQL database named in url when it does not exist yet (connecting to
    the server's `postgres` database to do it). True when it was created."""
    from sqlalchemy.engine import make_url

    target = make_url(normalise_url(url))
    if not target.get_backend_name().startswith("postgresql") or not target.database:
        return False
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if exists:
                return False
            quoted = connection.dialect.identifier_preparer.quote(target.database)
            connection.execute(text(f"CREATE DATABASE {quoted}"))
            return True
    finally:
        admin.dispose()


def schema_name(settings: Settings, service: str) -> str:
    name = f"{settings.database_schema_prefix}{service}"
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"HERALD_DATABASE_SCHEMA_PREFIX: {name!r} is not a valid schema name")
    return name


def sqlite_path(settings: Settings, service: str, attached: str | None = None) -> Path:
    """The service's SQLite file, or the file of one of its attached databases."""
    name = service if attached is None else f"{service}-{attached.replace('_', '-')}"
    return Path(settings.data_dir) / f"{name}.db"


def create_service_engine(settings: Settings, service: str) -> Engine:
    url = settings.database_url_for(service)
    if url is None:
        path = sqlite_path(settings, service)
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
            json_deserializer=orjson.loads,
        )
        synchronous = settings.sqlite_synchronous
        cache_mb = settings.sqlite_cache_mb
        attached = {name: str(sqlite_path(settings, service, name)) for name in SQLITE_ATTACHED.get(service, ())}

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Checkpoint every ~40 MB of WAL instead of SQLite's 4 MB: a checkpoint runs inside
            # some commit, and fewer, larger ones write each hot index page back fewer times.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            for name, file in attached.items():
                cursor.execute(f"ATTACH DATABASE ? AS {name}", (file,))
            for schema in ("main", *attached):
                cursor.execute(f"PRAGMA {schema}.journal_mode=WAL")
                cursor.execute(f"PRAGMA {schema}.synchronous={synchronous}")
                cursor.execute(f"PRAGMA {schema}.cache_size={-1024 * cache_mb}")
            cursor.close()

        return engine

    schema = schema_name(settings, service)
    engine = create_engine(
        normalise_url(url),
        connect_args={"options": f"-csearch_path={schema}"},
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def describe(engine: Engine) -> str:
    """The engine's URL without its password, for logs and `herald up`."""
    return make_url(engine.url).render_as_string(hide_password=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commits when the block ends, rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _alembic_config(service: str, engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_ROOT / service / "migrations"))
    config.attributes["engine"] = engine
    return config


def head_revision(service: str) -> str | None:
    script = ScriptDirectory(str(SERVICES_ROOT / service / "migrations"))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, service: str, revision: str = "head") -> None:
    """Applies the service's Alembic migrations up to revision."""
    with engine.begin() as connection:
        config = _alembic_config(service, engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def require_current_schema(engine: Engine, service: str) -> None:
    """Refuses to run on a schema that is behind the code's migrations."""
    current, head = current_revision(engine), head_revision(service)
    if current != head:
        raise FailedPrecondition(
            f"{service}'s database schema is at {current or 'nothing'} but the code needs {head}: "
            "run `herald migrate`"
        )
