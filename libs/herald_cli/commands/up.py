"""herald up: migrate, start every built service and the gateway, supervise them, stop them cleanly."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import grpc
from herald_common import access
from herald_common.clients import IdentityClient
from herald_common.settings import SERVICES, Settings
from herald_common.webhook_secret import WEBHOOK_SECRET_FILE, resolve_webhook_secret

from herald_cli import probes, suite
from herald_cli.commands import (
    DEFAULT_WORKSPACE,
    positive_seconds,
    settings_from_environment,
)
from herald_cli.errors import CliError
from herald_cli.output import say
from herald_cli.supervisor import ChildSpec, StartupFailed, Supervisor

READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


def register(subparsers, common: argparse.ArgumentParser) -> None:
    summary = "start every service and the Segment gateway, and keep them running until Ctrl-C"
    command = subparsers.add_parser(
        "up",
        help=summary,
        description=summary + ". Migrates first, restarts a process that dies, stops all on Ctrl-C or SIGTERM.",
    )
    command.add_argument("--data-dir", metavar="DIR", help="SQLite files and the write key (HERALD_DATA_DIR, ./var)")
    command.add_argument(
        "--gateway-port", type=_port, metavar="PORT", help="the Segment gateway's HTTP port (HERALD_GATEWAY_PORT, 8080)"
    )
    command.add_argument(
        "--console-port", type=_port, metavar="PORT", help="the web console's HTTP port (HERALD_CONSOLE_PORT, 8090)"
    )
    command.add_argument(
        "--ready-timeout",
        type=positive_seconds,
        default=READY_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"give up when a process has not answered by then (default: {READY_TIMEOUT_SECONDS:g})",
    )
    command.add_argument(
        "--without",
        action="append",
        choices=[*SERVICES, *suite.HTTP_COMPONENTS],
        metavar="NAME",
        help="do not start NAME (repeatable; also HERALD_UP_WITHOUT=a,b): run your own at its address instead",
    )
    command.add_argument(
        "--replicas",
        type=_replicas,
        default=None,
        metavar="N",
        help="run N processes of every service and of the gateway (HERALD_UP_REPLICAS; needs PostgreSQL)",
    )
    command.set_defaults(handler=up)


def up(args: argparse.Namespace) -> int:
    overrides: dict = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.gateway_port:
        overrides["gateway_port"] = args.gateway_port
    if args.console_port:
        overrides["console_port"] = args.console_port
    settings = settings_from_environment(**overrides)
    settings = settings.model_copy(update={"data_dir": Path(settings.data_dir).resolve()})
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    without = set(args.without or []) | {n.strip() for n in os.environ.get("HERALD_UP_WITHOUT", "").split(",") if n.strip()}
    unknown = without - {*SERVICES, *suite.HTTP_COMPONENTS}
    if unknown:
        raise CliError(
            f"HERALD_UP_WITHOUT: unknown service {sorted(unknown)[0]!r} "
            f"(expected one of {', '.join((*SERVICES, *suite.HTTP_COMPONENTS))})"
        )
    parts = [part for part in suite.components(settings) if part.name not in without]
    for name in sorted(without):
        address = {
            "gateway": f"{settings.gateway_host}:{settings.gateway_port}",
            "console": f"{settings.console_host}:{settings.console_port}",
        }.get(name) or settings.address_of(name)
        say(f"herald: not starting {name} (--without): the others reach it at {address}")
    if all(part.is_http for part in parts):
        raise CliError("no service is built: nothing to start")
    try:
        replicas = args.replicas or _replicas(os.environ.get("HERALD_UP_REPLICAS") or "1")
    except argparse.ArgumentTypeError as error:
        raise CliError(f"HERALD_UP_REPLICAS: {error}") from None
    if replicas > 1 and not settings.database_url:
        raise CliError("--replicas needs PostgreSQL (HERALD_DATABASE_URL): a SQLite file has one writer")
    for part in parts:
        suite.check_free(part)
    parts, shared_env = suite.with_replicas(settings, parts, replicas)
    missing = suite.not_built()
    if missing:
        say(f"herald: not starting {', '.join(missing)}: not built yet")

    write_key, source = suite.resolve_write_key(settings.write_key, settings.data_dir)
    if source != "HERALD_WRITE_KEY":
        say(f"herald: write key {source}")
    # Before delivery starts, so its replicas all read the one kept secret.
    try:
        _, secret_source = resolve_webhook_secret(settings.webhook_secret, settings.data_dir)
    except ValueError as error:
        raise CliError(str(error)) from None
    if secret_source.startswith("generated"):
        say(f"herald: webhook secret {secret_source}")
    for migration in suite.migrate_all(settings):
        if migration.changed:
            say(f"herald: {migration.describe()}")
    admin_token_source = suite.admin_token_source(settings)
    access.internal_token(settings)  # made now, so the services starting together read one file

    env = {**suite.child_environment(settings, write_key), **shared_env}
    if shared_env:
        settings = suite.settings_with(settings, shared_env)
    return asyncio.run(
        _run(settings, parts, env, write_key, ready_timeout=args.ready_timeout, admin_token_source=admin_token_source)
    )


async def _run(
    settings: Settings,
    parts: list[suite.Component],
    env: dict[str, str],
    write_key: str,
    *,
    ready_timeout: float,
    admin_token_source: str = "",
) -> int:
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for signum in signals:
        loop.add_signal_handler(signum, stop_requested.set)
    supervisor = Supervisor(env=env, grace_seconds=STOP_GRACE_SECONDS)
    startup = asyncio.create_task(_start(supervisor, settings, parts, write_key, ready_timeout))
    stop_wait = asyncio.create_task(stop_requested.wait())
    exit_code = 0
    try:
        await asyncio.wait({startup, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if startup.done():
            startup.result()
            _announce(settings, parts, write_key, admin_token_source)
            await stop_wait
        else:
            startup.cancel()
            await asyncio.gather(startup, return_exceptions=True)
    except StartupFailed as error:
        say(f"herald: {error}")
        exit_code = 1
    finally:
        stop_wait.cancel()
        say("herald: stopping")
        await supervisor.stop()
        for signum in signals:
            loop.remove_signal_handler(signum)
    say("herald: stopped")
    return exit_code


async def _start(
    supervisor: Supervisor, settings: Settings, parts: list[suite.Component], write_key: str, ready_timeout: float
) -> None:
    # All at once: the gateway waits for identity by itself, and starting together saves seconds.
    for part in parts:
        supervisor.start(_child_spec(part, settings))
    await supervisor.wait_ready([part.label for part in parts], ready_timeout)
    if any(part.name == "identity" for part in parts):
        await _ensure_default_workspace(settings, write_key)


def _child_spec(part: suite.Component, settings: Settings) -> ChildSpec:
    probe = (probes.http_health(f"{part.url}/health") if part.is_http
             else probes.grpc_health(part.address, settings=settings))
    return ChildSpec(name=part.label, argv=part.argv, probe=probe, tier=part.tier, env=part.env)


async def _ensure_default_workspace(settings: Settings, write_key: str) -> None:
    """The write key opens the default workspace (the gateway does the same when it starts)."""
    caller = access.Caller.admin(settings)
    identity = IdentityClient(settings.identity_address, settings.rpc_timeout_seconds, caller=caller)
    try:
        await identity.ensure_workspace(workspace_id=DEFAULT_WORKSPACE, name="Default", write_key=write_key)
    except grpc.aio.AioRpcError as error:
        raise StartupFailed(f"cannot create the default workspace: {error.details()}") from None
    finally:
        await identity.close()


def announcement(settings: Settings, parts: list[suite.Component], write_key: str, admin_token_source: str = "") -> str:
    """The block `herald up` prints once everything answers; tests read it too."""
    rows = [("write key", write_key)]
    if admin_token_source:
        rows.append(("admin token", admin_token_source))
    # Where the receiver's copy comes from, never the secret itself.
    rows.append(("webhook secret", "HERALD_WEBHOOK_SECRET" if settings.webhook_secret
                 else str(settings.data_dir / WEBHOOK_SECRET_FILE)))
    rows += [
        (part.label, part.url if part.is_http else part.address)
        for part in sorted(parts, key=_gateway_first)
        if not (part.is_gateway and part.replica > 1)
    ]
    gateways = sum(1 for part in parts if part.is_gateway)
    if gateways > 1:
        rows.append(("gateway replicas", f"{gateways}, sharing the gateway's port"))
    if settings.database_url:
        rows.append(("database", suite.without_password(settings.database_url)))
    rows.append(("data", str(settings.data_dir)))
    width = max(len(label) for label, _ in rows)
    lines = ["herald is up"] + [f"  {label.ljust(width)}  {value}" for label, value in rows]
    if any(part.is_gateway for part in parts):
        lines.append("Send Segment calls to the gateway with the write key (HTTP Basic user name).")
    if any(part.name == suite.CONSOLE for part in parts):
        lines.append("Open the console in a browser and sign in with the admin token.")
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines) + "\n"


def _announce(settings: Settings, parts: list[suite.Component], write_key: str, admin_token_source: str) -> None:
    # One write, so the children's log lines on the same stdout do not split the block.
    sys.stdout.write(announcement(settings, parts, write_key, admin_token_source))
    sys.stdout.flush()


def _gateway_first(part: suite.Component) -> int:
    return 0 if part.is_gateway else 1 if part.is_http else 2


def _replicas(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of replicas") from None
    if not 1 <= count <= 8:
        raise argparse.ArgumentTypeError(f"replicas must be between 1 and 8, not {count}")
    return count


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not between 1 and 65535")
    return port
