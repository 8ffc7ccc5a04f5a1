"""What `herald up` and `herald migrate` work on: the built services, their data, the write key."""

from __future__ import annotations

import errno
import importlib.util
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from herald_common import access
from herald_common.settings import SERVICES, Settings

from herald_cli.errors import CliError

GATEWAY = "gateway"
CONSOLE = "console"
# The HTTP processes: they call the gRPC services, so they start with them and stop first.
HTTP_COMPONENTS = (GATEWAY, CONSOLE)
WRITE_KEY_FILE = "write_key"


@dataclass(frozen=True)
class Component:
    """One process of the suite: a gRPC service, or the HTTP gateway."""

    name: str
    address: str  # host:port it listens on
    tier: int  # the gateway (1) calls the services (0), so it is stopped before them
    replica: int = 1  # 1.. when several processes run the same service
    env: tuple[tuple[str, str], ...] = ()  # this process's own settings (its listen address, ...)

    @property
    def label(self) -> str:
        return self.name if self.replica == 1 else f"{self.name}#{self.replica}"

    @property
    def module(self) -> str:
        return f"herald_services.{self.name}.main"

    @property
    def argv(self) -> tuple[str, ...]:
        return (sys.executable, "-m", self.module)

    @property
    def is_gateway(self) -> bool:
        return self.name == GATEWAY

    @property
    def is_http(self) -> bool:
        """The gateway and the console answer HTTP (GET /health), the others gRPC."""
        return self.name in HTTP_COMPONENTS

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def is_built(name: str) -> bool:
    """A service exists once its `herald_services.<name>.main` module does."""
    try:
        return importlib.util.find_spec(f"herald_services.{name}.main") is not None
    except ImportError:  # not even its package exists
        return False


def components(settings: Settings) -> list[Component]:
    found = [Component(name, settings.address_of(name), 0) for name in SERVICES if is_built(name)]
    if is_built(GATEWAY):
        found.append(Component(GATEWAY, f"{settings.gateway_host}:{settings.gateway_port}", 1))
    if is_built(CONSOLE):
        found.append(Component(CONSOLE, f"{settings.console_host}:{settings.console_port}", 1))
    return found


def free_address(host: str) -> str:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return f"{host}:{probe.getsockname()[1]}"


def with_replicas(settings: Settings, parts: list[Component], replicas: int) -> tuple[list[Component], dict[str, str]]:
    """Every component `replicas` times, and the settings every child shares.

    A service's extra replicas listen on free ports of the same host (HERALD_LISTEN_ADDRESS);
    HERALD_<SERVICE>_ADDRESS then lists all of them, and callers spread their calls over the
    list (round robin). Gateway replicas share the gateway's port through SO_REUSEPORT.
    Extra replicas serve metrics on free ports too."""
    if replicas <= 1:
        return parts, {}
    shared: dict[str, str] = {}
    result: list[Component] = []
    for part in parts:
        if part.name == CONSOLE:  # one console is plenty: it keeps nothing and serves people, not load
            result.append(part)
            continue
        if part.is_gateway:
            shared["HERALD_GATEWAY_REUSE_PORT"] = "1"
            result += [Component(part.name, part.address, part.tier, n) for n in range(1, replicas + 1)]
            continue
        host = part.address.rsplit(":", 1)[0]
        addresses = [part.address] + [free_address(host) for _ in range(replicas - 1)]
        shared[f"HERALD_{part.name.upper()}_ADDRESS"] = ",".join(addresses)
        metrics = settings.metrics_address_of(part.name)
        for n, address in enumerate(addresses, start=1):
            own = [("HERALD_LISTEN_ADDRESS", address)]
            if n > 1 and metrics:
                own.append((f"HERALD_{part.name.upper()}_METRICS_ADDRESS", free_address(metrics.rsplit(":", 1)[0])))
            result.append(Component(part.name, address, part.tier, n, tuple(own)))
    return result, shared


def not_built() -> list[str]:
    return [name for name in (*SERVICES, *HTTP_COMPONENTS) if not is_built(name)]


# ---- the write key ----------------------------------------------------------------------


def resolve_write_key(configured: str | None, data_dir: Path) -> tuple[str, str]:
    """(key, where it came from): HERALD_WRITE_KEY, else the data dir's file, else a new one kept there."""
    if configured:
        return configured, "HERALD_WRITE_KEY"
    path = data_dir / WRITE_KEY_FILE
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        return kept, str(path)
    key = secrets.token_urlsafe(24)
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    os.chmod(path, 0o600)  # an empty file left behind may have had looser bits
    return key, f"generated, kept in {path}"


# ---- the admin token --------------------------------------------------------------------


def admin_token_source(settings: Settings) -> str:
    """Where the admin token is (made once if missing), as `herald up` prints it."""
    _, source = access.admin_token(settings)
    return source if source == "HERALD_ADMIN_TOKEN" else f"kept in {source}"


# ---- migrations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    service: str
    before: str | None
    after: str | None
    database: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if self.changed:
            return f"{self.service}: migrated from {self.before or 'nothing'} to {self.after} ({self.database})"
        return f"{self.service}: up to date at {self.after} ({self.database})"


def services_with_migrations() -> list[str]:
    from herald_common.db import SERVICES_ROOT

    return [name for name in SERVICES if (SERVICES_ROOT / name / "migrations").is_dir()]


def migrate_all(settings: Settings) -> list[Migration]:
    """Brings every service's schema to its head revision."""
    # herald_common.db pulls in Alembic and SQLModel: only commands that migrate pay for them.
    from herald_common.db import (
        create_service_engine,
        current_revision,
        describe,
        ensure_database,
        migrate,
    )
    from sqlalchemy.exc import SQLAlchemyError

    for url in {settings.database_url_for(service) for service in services_with_migrations()} - {None}:
        try:
            ensure_database(url)
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise CliError(f"cannot reach or create the database {without_password(url)}: {reason}") from None
    done = []
    for service in services_with_migrations():
        engine = None
        try:
            engine = create_service_engine(settings, service)
            before = current_revision(engine)
            migrate(engine, service)
            done.append(Migration(service, before, current_revision(engine), describe(engine)))
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            where = describe(engine) if engine is not None else without_password(settings.database_url_for(service))
            raise CliError(f"cannot migrate {service} ({where}): {reason}") from None
        finally:
            if engine is not None:
                engine.dispose()
    return done


def without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ---- ports ------------------------------------------------------------------------------


def check_free(component: Component) -> None:
    """Refuses to start on a port something else holds (gRPC would share it through SO_REUSEPORT)."""
    host, _, port = component.address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except (OSError, ValueError) as error:
        hint = {
            GATEWAY: "--gateway-port or HERALD_GATEWAY_PORT",
            CONSOLE: "--console-port or HERALD_CONSOLE_PORT",
        }.get(component.name, f"HERALD_{component.name.upper()}_ADDRESS")
        if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
            raise CliError(
                f"{component.name} cannot listen on {component.address}: the port is in use "
                f"(another `herald up`?); choose another with {hint}"
            ) from None
        raise CliError(f"{component.name} cannot listen on {component.address}: {error}; set {hint}") from None


def child_environment(settings: Settings, write_key: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every child runs with: the caller's, plus what `herald up` decided."""
    env = dict(os.environ if base is None else base)
    env.update(
        HERALD_DATA_DIR=str(settings.data_dir),
        HERALD_GATEWAY_PORT=str(settings.gateway_port),
        HERALD_CONSOLE_PORT=str(settings.console_port),
        HERALD_WRITE_KEY=write_key,
        HERALD_PARENT_PID=str(os.getpid()),  # children stop if herald up dies (service.die_with_parent)
        PYTHONUNBUFFERED="1",
    )
    return env


def settings_with(settings: Settings, env: dict[str, str]) -> Settings:
    """settings with the HERALD_<SERVICE>_ADDRESS values herald up chose for replicas."""
    updates = {
        key.removeprefix("HERALD_").lower(): value
        for key, value in env.items()
        if key.endswith("_ADDRESS") and key.removeprefix("HERALD_").lower() in type(settings).model_fields
    }
    return settings.model_copy(update=updates)
