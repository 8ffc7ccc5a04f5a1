"""herald users show|delete|events|unsubscribe|resubscribe ID: a profile, a privacy request, a user's
events, and whether herald may message them."""

from __future__ import annotations

import argparse
import json
import textwrap

from herald_common.settings import Settings

from herald_cli import shapes
from herald_cli.commands import positive_int, read_command
from herald_cli.errors import CliError
from herald_cli.output import Result, fields, say, short_time, table
from herald_cli.rpc import connect


def register(subparsers, common: argparse.ArgumentParser) -> None:
    users = subparsers.add_parser("users", help="user profiles: show, delete, events")
    commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")

    show = commands.add_parser(
        "show", parents=[common], help="a user's attributes, devices and aliases, by user id or anonymous id"
    )
    show.add_argument("id", metavar="ID", help="a user id or an anonymous id")
    show.set_defaults(handler=read_command(show_user))

    delete = commands.add_parser(
        "delete", parents=[common], help="delete a user's profile, aliases, devices and events (a privacy request)"
    )
    delete.add_argument("id", metavar="ID", help="a user id or an anonymous id")
    delete.set_defaults(handler=read_command(delete_user))

    events = commands.add_parser("events", parents=[common], help="a user's events, newest first")
    events.add_argument("id", metavar="ID", help="a user id or an anonymous id")
    events.add_argument("--limit", type=positive_int, default=100, help="at most this many events (default: 100)")
    events.set_defaults(handler=read_command(user_events))

    for verb, summary in (
        ("unsubscribe", "stop sending to a user: every campaign, or one with --campaign"),
        ("resubscribe", "undo an unsubscribe (every campaign, or one with --campaign)"),
    ):
        command = commands.add_parser(verb, parents=[common], help=summary)
        command.add_argument("id", metavar="ID", help="a user id or an anonymous id")
        command.add_argument("--campaign", metavar="NAME", default="", help="only this campaign")
        command.set_defaults(handler=read_command(unsubscribe_user), resubscribe=verb == "resubscribe")


async def show_user(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("identity", settings, args.timeout) as identity:
        user = await identity.get_user(args.workspace, args.id)
    document = shapes.user_document(user)
    document.update(await _experiments(args, settings, user))
    return Result(document, render_user(document))


async def _experiments(args: argparse.Namespace, settings: Settings, user) -> dict:
    """The user's groups, from campaign (which owns the settings and campaigns the sticky hashes
    read): the global control group and each live campaign's holdout or variant. Without campaign
    the profile is still shown, with these as null and a warning."""
    from herald.campaign.v1 import campaign_pb2
    request = campaign_pb2.GetUserExperimentsRequest(workspace_id=args.workspace, user_id=user.user_id,
                                                     profile_id=user.profile_id)
    try:
        async with connect("campaign", settings, args.timeout) as campaign:
            found = await campaign.stub.GetUserExperiments(request, timeout=campaign.timeout,
                                                           metadata=campaign.metadata("GetUserExperiments"))
    except CliError as error:
        if not args.json:  # in JSON the nulls say it
            say(f"warning: global control and experiment groups not shown: {error.message}")
        return {"global_control": None, "experiments": None}
    return {
        "global_control": found.global_control,
        "experiments": [{"campaign": c.campaign, "group": c.group, "variant": c.variant or None} for c in found.campaigns],
    }


async def delete_user(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("identity", settings, args.timeout) as identity:
        response = await identity.delete_user(args.workspace, args.id)
    document = shapes.deletion_document(args.id, args.workspace, response)
    profiles, events = len(document["profile_ids"]), document["events_deleted"]
    text = (
        f"deleted user {args.id!r} from workspace {args.workspace!r}: "
        f"{_count(profiles, 'profile')} with their aliases and devices, and {_count(events, 'event')}"
    )
    return Result(document, text)


async def unsubscribe_user(args: argparse.Namespace, settings: Settings) -> Result:
    from herald.campaign.v1 import campaign_pb2

    request = campaign_pb2.UnsubscribeRequest(
        workspace_id=args.workspace, id=args.id, campaign=args.campaign, resubscribe=args.resubscribe
    )
    async with connect("campaign", settings, args.timeout) as campaign:
        await campaign.stub.Unsubscribe(request, timeout=campaign.timeout, metadata=campaign.metadata("Unsubscribe"))
    scope = f"campaign {args.campaign!r}" if args.campaign else "every campaign"
    verb = "resubscribed to" if args.resubscribe else "unsubscribed from"
    document = {"id": args.id, "campaign": args.campaign or None, "subscribed": args.resubscribe}
    return Result(document, f"user {args.id!r} is {verb} {scope}")


async def user_events(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("ingest", settings, args.timeout) as ingest:
        response = await ingest.list_user_events(args.workspace, args.id, args.limit)
    documents = [shapes.event_document(e) for e in response.events]
    if not documents:
        return Result(documents, f"no events for {args.id!r} in workspace {args.workspace!r}")
    rows = [(short_time(d["timestamp"]), d["name"], d["type"], d["message_id"]) for d in documents]
    return Result(documents, table(("TIME", "NAME", "TYPE", "MESSAGE ID"), rows))


def render_user(document: dict) -> str:
    lines = [
        fields(
            [
                ("user id", document["user_id"] or "(anonymous)"),
                ("profile id", document["profile_id"]),
                ("anonymous ids", ", ".join(document["anonymous_ids"])),
                ("groups", ", ".join(document["groups"])),
                ("merged profiles", ", ".join(document["merged_profile_ids"])),
                ("created", short_time(document["created_at"])),
                ("updated", short_time(document["updated_at"])),
                ("global control", _global_control_text(document.get("global_control"))),
            ]
        ),
    ]
    if document.get("experiments"):
        lines.append("experiments")
        rows = [(e["campaign"], e["group"], e["variant"] or "-") for e in document["experiments"]]
        lines.append(textwrap.indent(table(("CAMPAIGN", "GROUP", "VARIANT"), rows), "  "))
    lines += [
        "attributes",
    ]
    attributes = document["attributes"]
    if attributes:
        lines.append(fields([(name, _attribute_text(attributes[name])) for name in sorted(attributes)], "  "))
    else:
        lines.append("  (none)")
    lines.append("devices")
    if document["devices"]:
        rows = [(d["kind"], d["token"], short_time(d["last_seen"])) for d in document["devices"]]
        lines.append(textwrap.indent(table(("KIND", "TOKEN", "LAST SEEN"), rows), "  "))
    else:
        lines.append("  (none)")
    return "\n".join(lines)


def _global_control_text(member) -> str:
    if member is None:
        return "unknown (campaign not reachable)"
    return "yes: held out of every campaign but transactional ones" if member else "no"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _attribute_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
