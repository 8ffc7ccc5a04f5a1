"""herald migrate: bring every service's database schema to the code's head revision."""

from __future__ import annotations

import argparse
import dataclasses

from herald_cli import suite
from herald_cli.commands import settings_from_environment
from herald_cli.errors import CliError
from herald_cli.output import Result, emit


def register(subparsers, common: argparse.ArgumentParser) -> None:
    command = subparsers.add_parser("migrate", help="apply every service's database migrations")
    command.add_argument("--json", action="store_true", help="print one JSON document and nothing else")
    command.add_argument("--data-dir", metavar="DIR", help="where the SQLite files are (HERALD_DATA_DIR)")
    command.set_defaults(handler=migrate)


def migrate(args: argparse.Namespace) -> int:
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = settings_from_environment(**overrides)
    done = suite.migrate_all(settings)
    if not done:  # an install without its migrations must not look like a migrated database
        raise CliError("found no service migrations to apply (is herald installed with its package data?)")
    document = [dataclasses.asdict(m) for m in done]
    text = "\n".join(m.describe() for m in done)
    emit(Result(document, text), as_json=args.json)
    return 0
