"""`herald`: the entry point. Parses the command line, runs one command, exits with its status.

Every failure is one line on standard error (`herald: ...`) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from herald_cli.commands import campaigns, common_options, events, explain, migrate, up, users, workspace_settings
from herald_cli.errors import CliError

# Each registers its own subcommands; campaigns and sends join this list in later issues.
COMMAND_MODULES = (up, migrate, users, events, campaigns, explain, workspace_settings)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too, with where to look for help."""

    def error(self, message: str):
        self.exit(2, f"herald: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="herald",
        description="herald, a self-hosted customer-messaging engine: start the suite, read and manage its data.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_options()
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CliError as error:
        return _fail(error.message, error.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as error:  # the promise is one line, not a traceback
        return _fail(f"unexpected {type(error).__name__}: {error}", 1)


def _fail(message: str, exit_code: int) -> int:
    print(f"herald: {message}", file=sys.stderr, flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
