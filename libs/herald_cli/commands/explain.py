"""herald explain USER: every decision herald took for the user's campaign entries, and why."""

from __future__ import annotations

import argparse
from contextlib import AsyncExitStack

import grpc
from herald_common.explain import explain_user, render_text
from herald_common.settings import Settings

from herald_cli.commands import positive_int, read_command
from herald_cli.errors import CliError, describe_rpc_error
from herald_cli.output import Result
from herald_cli.rpc import connect

DEFAULT_LIMIT = 20


def register(subparsers, common: argparse.ArgumentParser) -> None:
    explain = subparsers.add_parser(
        "explain", parents=[common],
        help="why a user did or did not get a message: each campaign entry and every decision taken for it",
    )
    explain.add_argument("user", metavar="USER", help="a user id or any anonymous id joined to the user")
    explain.add_argument("--campaign", metavar="NAME", default="", help="only this campaign's entries")
    explain.add_argument("--event", metavar="EVENT_ID", default="", help="only the entry this trigger event made")
    explain.add_argument("--limit", type=positive_int, default=DEFAULT_LIMIT,
                         help=f"at most this many entries, the newest (default: {DEFAULT_LIMIT}, at most 500)")
    explain.set_defaults(handler=read_command(explain_command))


async def explain_command(args: argparse.Namespace, settings: Settings) -> Result:
    timeout = args.timeout or settings.rpc_timeout_seconds
    async with AsyncExitStack() as stack:
        clients = {service: await stack.enter_async_context(connect(service, settings, args.timeout))
                   for service in ("campaign", "delivery", "ingest")}

        async def call(service: str, pending):
            # Each call's failure names its own service (the clients are open together).
            try:
                return await pending
            except grpc.aio.AioRpcError as error:
                raise CliError(describe_rpc_error(error, service=service, address=clients[service].address,
                                                  timeout=timeout)) from None

        document = await explain_user(
            campaign=clients["campaign"], delivery=clients["delivery"], ingest=clients["ingest"],
            workspace_id=args.workspace, user=args.user, campaign_name=args.campaign, trigger_event_id=args.event,
            limit=args.limit, call=call,
        )
    return Result(document, render_text(document, args.user))
