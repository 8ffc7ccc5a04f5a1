"""herald events list|show|define|hide|unhide: the event catalogue."""

from __future__ import annotations

import argparse
import textwrap

import grpc
from herald_common.settings import Settings

from herald_cli import shapes
from herald_cli.commands import read_command
from herald_cli.errors import CliError
from herald_cli.output import Result, fields, short_time, table
from herald_cli.rpc import connect


def register(subparsers, common: argparse.ArgumentParser) -> None:
    events = subparsers.add_parser("events", help="the event catalogue: list, show, define, hide, unhide")
    commands = events.add_subparsers(dest="events_command", required=True, metavar="COMMAND")

    listing = commands.add_parser(
        "list", parents=[common], help="events of the last 30 days: definitions, times seen, seen in the last 24 hours"
    )
    listing.add_argument("--hidden", action="store_true", help="include hidden events")
    listing.set_defaults(handler=read_command(list_events))

    show = commands.add_parser("show", parents=[common], help="one event and each property set seen with it")
    show.add_argument("name", metavar="NAME", help='the event name, e.g. "[Segment] Signed Up"')
    show.set_defaults(handler=read_command(show_event))

    define = commands.add_parser("define", parents=[common], help="add an event to the catalogue before it is sent")
    define.add_argument("name", metavar="NAME")
    define.add_argument("--description", default="", help="what the event means")
    define.set_defaults(handler=read_command(define_event))

    for verb, hidden, summary in (("hide", True, "leave an event out of `events list`"), ("unhide", False, "list a hidden event again")):
        command = commands.add_parser(verb, parents=[common], help=summary)
        command.add_argument("name", metavar="NAME")
        command.set_defaults(handler=read_command(hide_event), hidden=hidden)


async def list_events(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("ingest", settings, args.timeout) as ingest:
        response = await ingest.list_events(args.workspace, args.hidden)
    documents = [shapes.event_definition_document(e) for e in response.events]
    if not documents:
        return Result(documents, f"no events in workspace {args.workspace!r} yet")
    headers = ["NAME", "DEFINITIONS", "TIMES SEEN", "SEEN IN LAST 24 HOURS?", "LAST SEEN"]
    rows = [
        [d["name"], d["definitions"], d["times_seen"], yes_no(d["seen_last_24h"]), short_time(d["last_seen"])]
        for d in documents
    ]
    if args.hidden:
        headers.append("HIDDEN")
        for row, document in zip(rows, documents):
            row.append("yes" if document["hidden"] else "")
    return Result(documents, table(headers, rows, right=(1, 2)))


async def show_event(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("ingest", settings, args.timeout) as ingest:
        definition = await _named(ingest.get_event_definition(args.workspace, args.name), args.name)
    document = shapes.event_definition_document(definition, with_property_sets=True)
    return Result(document, render_event(document))


async def define_event(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("ingest", settings, args.timeout) as ingest:
        definition = await ingest.define_event(args.workspace, args.name, args.description)
    document = shapes.event_definition_document(definition)
    return Result(document, f"{definition.name!r} is in the catalogue of workspace {args.workspace!r}")


async def hide_event(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("ingest", settings, args.timeout) as ingest:
        definition = await _named(ingest.hide_event(args.workspace, args.name, args.hidden), args.name)
    document = shapes.event_definition_document(definition)
    state = "hidden from `herald events list`" if definition.hidden else "listed by `herald events list` again"
    return Result(document, f"{definition.name!r} is {state}")


async def _named(call, name: str):
    """Awaits a call about one event; NOT_FOUND gets a hint about how Segment names events."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND and not name.startswith("["):
            detail = error.details() or f"no event {name!r}"
            raise CliError(f"{detail} (track events are named like '[Segment] {name}')") from None
        raise


def yes_no(seen: bool) -> str:
    """The product page's answer to "Seen in last 24 hours?"."""
    return "Yes" if seen else "No"


def render_event(document: dict) -> str:
    summary = fields(
        [
            ("definitions", document["definitions"]),
            ("times seen", f"{document['times_seen']} (last 30 days)"),
            ("seen in last 24 hours", f"{yes_no(document['seen_last_24h'])} ({document['times_seen_last_24h']} times)"),
            ("last seen", short_time(document["last_seen"])),
            ("hidden", "yes" if document["hidden"] else "no"),
            ("defined by hand", "yes" if document["defined_by_hand"] else "no"),
            ("description", document["description"]),
        ],
        "  ",
    )
    lines = [document["name"], summary, "property sets"]
    if document["property_sets"]:
        rows = [
            (s["count"], short_time(s["last_seen"]), ", ".join(s["properties"]) or "(no properties)")
            for s in document["property_sets"]
        ]
        lines.append(textwrap.indent(table(("COUNT", "LAST SEEN", "PROPERTIES"), rows, right=(0,)), "  "))
    else:
        lines.append("  (none seen yet)")
    return "\n".join(lines)
