"""The `herald` subcommands. Each module registers its parsers; later issues add campaigns and sends."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from herald_common.settings import Settings, load_settings
from pydantic import ValidationError

from herald_cli.errors import CliError, describe_settings_error
from herald_cli.output import Result, emit

DEFAULT_WORKSPACE = "default"

ReadCommand = Callable[[argparse.Namespace, Settings], Awaitable[Result]]


def settings_from_environment(**overrides) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as error:
        raise CliError(describe_settings_error(error)) from None


def common_options() -> argparse.ArgumentParser:
    """Options every command that talks to the suite takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document and nothing else")
    common.add_argument(
        "--workspace", default=DEFAULT_WORKSPACE, metavar="ID", help=f"workspace id (default: {DEFAULT_WORKSPACE})"
    )
    common.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="deadline of each call (default: HERALD_RPC_TIMEOUT_SECONDS, 10)",
    )
    return common


def read_command(command: ReadCommand) -> Callable[[argparse.Namespace], int]:
    """Runs an async command against the suite and prints its result as JSON or text."""

    def handler(args: argparse.Namespace) -> int:
        settings = settings_from_environment()
        result = asyncio.run(command(args, settings))
        emit(result, as_json=args.json)
        return 0

    return handler


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return seconds


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number
