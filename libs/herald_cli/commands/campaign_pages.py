"""What the console's campaign pages show, as commands: herald campaigns versions|daily|preview
(and the figures `herald campaigns list` shows). Same RPCs as the pages."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from herald.campaign.v1 import campaign_pb2
from herald_common.protoconv import set_timestamp
from herald_common.settings import Settings

from herald_cli import shapes
from herald_cli.commands import positive_int, read_command
from herald_cli.errors import CliError
from herald_cli.output import Result, fields, short_time, table
from herald_cli.rpc import connect


def register(commands, common: argparse.ArgumentParser) -> None:
    versions = commands.add_parser(
        "versions", parents=[common], help="a campaign's versions, newest first, each with the file it was applied from"
    )
    versions.add_argument("name", metavar="NAME")
    versions.add_argument("--version", type=positive_int, default=None, metavar="N", help="print the file of version N")
    versions.set_defaults(handler=read_command(list_versions))

    daily = commands.add_parser("daily", parents=[common], help="sends and primary-goal conversions per UTC day")
    daily.add_argument("name", metavar="NAME")
    daily.add_argument("--days", type=positive_int, default=30, help="how many days back, today included (default: 30, at most 90)")
    daily.set_defaults(handler=read_command(campaign_daily))

    preview = commands.add_parser(
        "preview", parents=[common],
        help="the message a campaign would send a user, rendered as delivery would send it (nothing is sent)",
    )
    preview.add_argument("name", metavar="NAME", nargs="?", default="", help="a campaign as applied")
    preview.add_argument("-f", "--file", metavar="FILE", default="", help="or a campaign file not applied yet")
    preview.add_argument("--user", required=True, metavar="ID", help="user id or anonymous id")
    preview.add_argument("--event", metavar="JSON", default="",
                         help="the trigger event's properties as a JSON object (default: none)")
    preview.add_argument("--event-time", metavar="TIME", default="", help="the trigger event's time, ISO 8601 (default: now)")
    preview.set_defaults(handler=read_command(preview_message))


async def _call(client, method: str, request):
    return await getattr(client.stub, method)(request, timeout=client.timeout, metadata=client.metadata(method))


def summary_document(summary: campaign_pb2.CampaignSummary) -> dict:
    return {
        **shapes.campaign_document(summary.campaign), "channel": summary.channel, "triggered": summary.triggered,
        "sent": summary.sent, "primary_goal": summary.primary_goal or None,
        "primary_conversions": summary.primary_conversions, "primary_rate": summary.primary_rate,
    }


async def all_summaries(settings: Settings, workspace: str, timeout) -> list[campaign_pb2.CampaignSummary]:
    found, token = [], ""
    async with connect("campaign", settings, timeout) as campaign:
        while True:
            page = await _call(campaign, "ListCampaignSummaries", campaign_pb2.ListCampaignSummariesRequest(
                workspace_id=workspace, page_size=500, page_token=token))
            found.extend(page.campaigns)
            token = page.next_page_token
            if not token:
                return found


async def list_versions(args: argparse.Namespace, settings: Settings) -> Result:
    found, token = [], ""
    async with connect("campaign", settings, args.timeout) as campaign:
        while True:
            page = await _call(campaign, "ListCampaignVersions", campaign_pb2.ListCampaignVersionsRequest(
                workspace_id=args.workspace, name=args.name, page_size=100, page_token=token))
            found.extend(page.versions)
            token = page.next_page_token
            if not token or (args.version and any(v.version == args.version for v in found)):
                break
    documents = [{"version": v.version, "current": v.current, "file_name": v.file_name,
                  "created_at": shapes.iso(v.created_at), "source_yaml": v.source_yaml} for v in found]
    if args.version:
        chosen = [d for d in documents if d["version"] == args.version]
        if not chosen:
            raise CliError(f"campaign {args.name!r} has no version {args.version} (it has 1 to {documents[0]['version']})")
        return Result(chosen[0], chosen[0]["source_yaml"].rstrip())
    rows = [[d["version"], "yes" if d["current"] else "", d["file_name"] or "-", short_time(d["created_at"])]
            for d in documents]
    return Result(documents, table(["VERSION", "CURRENT", "FILE", "APPLIED"], rows, right=(0,)))


async def campaign_daily(args: argparse.Namespace, settings: Settings) -> Result:
    request = campaign_pb2.GetCampaignDailyRequest(workspace_id=args.workspace, name=args.name, days=args.days)
    async with connect("campaign", settings, args.timeout) as campaign:
        response = await _call(campaign, "GetCampaignDaily", request)
    document = {"primary_goal": response.primary_goal or None,
                "days": [{"day": d.day, "sent": d.sent, "conversions": d.conversions} for d in response.days]}
    rows = [[d.day, d.sent, d.conversions] for d in response.days]
    heading = f"conversions: {response.primary_goal}" if response.primary_goal else "no goals"
    return Result(document, heading + "\n" + table(["DAY", "SENT", "CONVERSIONS"], rows, right=(1, 2)))


async def preview_message(args: argparse.Namespace, settings: Settings) -> Result:
    if bool(args.name) == bool(args.file):
        raise CliError("give a campaign NAME or --file FILE (one of them)")
    source = ""
    if args.file:
        from herald_cli.commands.campaigns import _read_file

        source = _read_file(args.file)
    if args.event:
        try:
            parsed = json.loads(args.event)
        except ValueError as error:
            raise CliError(f"--event: not JSON ({error})") from None
        if not isinstance(parsed, dict):
            raise CliError("--event: must be a JSON object of the event's properties")
    request = campaign_pb2.PreviewMessageRequest(
        workspace_id=args.workspace, name=args.name, source_yaml=source, user_id=args.user,
        event_properties_json=args.event.encode(),
    )
    if args.event_time:
        try:
            at = datetime.fromisoformat(args.event_time)
        except ValueError:
            raise CliError(f"--event-time: {args.event_time!r} is not an ISO 8601 time") from None
        if at.tzinfo is None:
            raise CliError("--event-time: give an offset (2026-12-01T09:30:00+00:00)")
        set_timestamp(request.event_time, at)
    try:
        async with connect("campaign", settings, args.timeout) as campaign:
            response = await _call(campaign, "PreviewMessage", request)
    except CliError as error:
        raise CliError(f"{args.file}: {error.message}" if args.file else error.message) from None
    document = preview_document(response)
    return Result(document, render_preview(document))


def preview_document(response: campaign_pb2.PreviewMessageResponse) -> dict:
    message = response.message
    rendered = None
    if response.HasField("message"):
        rendered = {"subject": message.subject, "body": message.body, "html": message.html, "title": message.title,
                    "url": message.url, "data": json.loads(message.data_json) if message.data_json else None}
    return {
        "channel": response.channel, "user_id": response.user_id, "conditions_hold": response.conditions_hold,
        "addresses": [{"kind": a.kind, "value": a.value} for a in response.addresses],
        "render_error": response.render_error or None, "message": rendered,
        "warnings": [{"field": w.field, "reason": w.reason} for w in response.warnings],
    }


def render_preview(d: dict) -> str:
    to = ", ".join(f"{a['kind']} {a['value']}" for a in d["addresses"]) or "no address: delivery would suppress it"
    lines = [fields([
        ("channel", d["channel"]), ("user", d["user_id"]), ("to", to),
        ("conditions", "hold" if d["conditions_hold"] else "do not hold now: the user would not get it"),
    ])]
    for warning in d["warnings"]:
        lines.append(f"warning: {warning['field']}: {warning['reason']}")
    if d["render_error"]:
        lines.append(f"cannot render: {d['render_error']}")
        return "\n".join(lines)
    m = d["message"]
    parts = {
        "email": [("subject", m["subject"]), ("body", m["body"]), ("html", m["html"])],
        "sms": [("text", m["body"])],
        "voice": [("text", m["body"])],
        "push": [("title", m["title"]), ("body", m["body"]), ("data", json.dumps(m["data"]) if m["data"] else "")],
        "webhook": [("url", m["url"]), ("json", json.dumps(m["data"], indent=2, ensure_ascii=False))],
    }.get(d["channel"], [])
    for label, value in parts:
        if value:
            lines.append(f"\n{label}:\n{value.rstrip()}")
    return "\n".join(lines)


def list_rows(summaries) -> list[list]:
    rows = []
    for s in summaries:
        rate = f"{s.primary_rate:.1%}" if s.primary_goal else "-"
        rows.append([s.campaign.name, s.campaign.status, s.channel, s.campaign.trigger_event, s.triggered, s.sent, rate,
                     s.campaign.version])
    return rows


LIST_HEADERS = ["NAME", "STATUS", "CHANNEL", "TRIGGER", "TRIGGERED", "SENT", "CONVERSION", "VERSION"]
