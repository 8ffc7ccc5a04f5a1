"""herald settings apply|show: the workspace's frequency caps, quiet hours and global control group."""

from __future__ import annotations

import argparse
from pathlib import Path

from herald.campaign.v1 import campaign_pb2
from herald_common.settings import Settings

from herald_cli import shapes
from herald_cli.commands import read_command
from herald_cli.commands.campaigns import _read_file
from herald_cli.errors import CliError
from herald_cli.output import Result, fields, short_time
from herald_cli.rpc import connect


def register(subparsers, common: argparse.ArgumentParser) -> None:
    settings = subparsers.add_parser(
        "settings", help="workspace settings: frequency caps, quiet hours, global control group"
    )
    commands = settings.add_subparsers(dest="settings_command", required=True, metavar="COMMAND")
    apply = commands.add_parser("apply", parents=[common], help="replace the workspace's settings with those in FILE")
    apply.add_argument("-f", "--file", required=True, metavar="FILE", help="a settings YAML file ('-' reads stdin)")
    apply.set_defaults(handler=read_command(apply_settings))
    show = commands.add_parser("show", parents=[common], help="the workspace's settings as applied")
    show.set_defaults(handler=read_command(show_settings))


async def _call(client, method: str, request):
    return await getattr(client.stub, method)(request, timeout=client.timeout, metadata=client.metadata(method))


async def apply_settings(args: argparse.Namespace, settings: Settings) -> Result:
    text = _read_file(args.file)
    request = campaign_pb2.ApplySettingsRequest(workspace_id=args.workspace, source_yaml=text,
                                                file_name=Path(args.file).name)
    try:
        async with connect("campaign", settings, args.timeout) as campaign:
            response = await _call(campaign, "ApplySettings", request)
    except CliError as error:
        raise CliError(f"{args.file}: {error.message}") from None
    document = shapes.settings_document(response)
    document["changed"] = response.changed
    verb = "applied" if response.changed else "unchanged:"
    return Result(document, f"settings of workspace {response.workspace_id!r} {verb} {summary(document)}")


async def show_settings(args: argparse.Namespace, settings: Settings) -> Result:
    async with connect("campaign", settings, args.timeout) as campaign:
        response = await _call(campaign, "GetSettings", campaign_pb2.GetSettingsRequest(workspace_id=args.workspace))
    document = shapes.settings_document(response)
    if document["updated_at"] is None:
        return Result(document, f"workspace {args.workspace!r} has no settings yet (herald settings apply -f FILE): "
                                "no frequency caps, no quiet hours, no global control group")
    caps = [f"{c['channel']} max {c['max']} per {c['per']}" for c in document["frequency_caps"]]
    quiet = document["quiet_hours"]
    lines = [
        f"workspace {document['workspace_id']}",
        fields([
            ("frequency caps", "; ".join(caps) or "none"),
            ("quiet hours", f"{quiet['start']}-{quiet['end']} in each user's zone" if quiet else "none"),
            ("global control", document["global_control"]),
            ("applied", f"{short_time(document['updated_at'])} from {document['file_name'] or '-'}"),
        ], "  "),
        "",
        document["source_yaml"].rstrip(),
    ]
    return Result(document, "\n".join(lines))


def summary(document: dict) -> str:
    quiet = document["quiet_hours"]
    hours = f"quiet hours {quiet['start']}-{quiet['end']}" if quiet else "no quiet hours"
    return f"{len(document['frequency_caps'])} frequency cap(s), {hours}, global control {document['global_control']}"
