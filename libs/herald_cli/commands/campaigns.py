"""herald campaigns apply|list|show|pause|resume|archive|stats (versions, daily, preview in
campaign_pages; simulate in simulate.py), and herald sends list."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from herald.campaign.v1 import campaign_pb2
from herald_common.settings import Settings

from herald_cli import shapes
from herald_cli.commands import campaign_pages, positive_int, read_command
from herald_cli.errors import CliError
from herald_cli.output import Result, fields, say, short_time, table
from herald_cli.rpc import connect


def register(subparsers, common: argparse.ArgumentParser) -> None:
    campaigns = subparsers.add_parser("campaigns", help="campaigns as code: apply, list, show, pause, resume, stats")
    commands = campaigns.add_subparsers(dest="campaigns_command", required=True, metavar="COMMAND")

    apply = commands.add_parser(
        "apply", parents=[common], help="create the campaign in FILE, or update the one with that name"
    )
    apply.add_argument("-f", "--file", required=True, metavar="FILE", help="a campaign YAML file ('-' reads stdin)")
    apply.add_argument("--draft", action="store_true", help="a new campaign starts as a draft (resume makes it live)")
    apply.set_defaults(handler=read_command(apply_campaign))

    listing = commands.add_parser(
        "list", parents=[common],
        help="every campaign with its status, channel, trigger, triggered, sent and primary goal's conversion rate",
    )
    listing.set_defaults(handler=read_command(list_campaigns))

    show = commands.add_parser("show", parents=[common], help="one campaign and the file it was applied from")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(handler=read_command(show_campaign))

    for verb, summary in (
        ("pause", "hold the campaign: no new users enter, pending sends wait"),
        ("resume", "make the campaign live; held sends go out again, spread over time"),
        ("archive", "retire the campaign: no new users enter, pending sends are suppressed"),
    ):
        command = commands.add_parser(verb, parents=[common], help=summary)
        command.add_argument("name", metavar="NAME")
        command.set_defaults(handler=read_command(set_status), verb=verb)

    stats = commands.add_parser(
        "stats", parents=[common],
        help="triggered, scheduled, sent, failed, suppressed, and for each goal its conversions and rate",
    )
    stats.add_argument("name", metavar="NAME")
    stats.set_defaults(handler=read_command(campaign_stats))

    campaign_pages.register(commands, common)
    promote = commands.add_parser(
        "promote", parents=[common], help="make one A/B variant the whole campaign (a new version)",
    )
    promote.add_argument("name", metavar="NAME")
    promote.add_argument("variant", metavar="VARIANT")
    promote.set_defaults(handler=read_command(promote_variant))
    from herald_cli.commands import simulate

    simulate.register(commands, common)

    sends = subparsers.add_parser("sends", help="sends: their status, due time, channel and provider outcome")
    send_commands = sends.add_subparsers(dest="sends_command", required=True, metavar="COMMAND")
    send_list = send_commands.add_parser("list", parents=[common], help="sends, newest first")
    send_list.add_argument("--campaign", metavar="NAME", default="", help="only this campaign's sends")
    send_list.add_argument("--user", metavar="ID", default="", help="only this user's sends (user id or anonymous id)")
    send_list.add_argument("--limit", type=positive_int, default=100, help="at most this many (default: 100)")
    send_list.set_defaults(handler=read_command(list_sends))


def _read_file(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"{name}: cannot read it ({error})") from None


async def _call(client, method: str, request):
    return await getattr(client.stub, method)(request, timeout=client.timeout, metadata=client.metadata(method))


async def apply_campaign(args: argparse.Namespace, settings: Settings) -> Result:
    text = _read_file(args.file)
    request = campaign_pb2.ApplyCampaignRequest(
        workspace_id=args.workspace, source_yaml=text, file_name=Path(args.file).name, draft=args.draft
    )
    try:
        async with connect("campaign", settings, args.timeout) as campaign:
            response = await _call(campaign, "ApplyCampaign", request)
    except CliError as error:
        raise CliError(f"{args.file}: {error.message}") from None
    warnings = [f"{w.field}: {w.reason}" for w in response.warnings]
    document = {**shapes.campaign_document(response.campaign), "created": response.created, "changed": response.changed,
                "warnings": [{"field": w.field, "reason": w.reason} for w in response.warnings]}
    c = response.campaign
    if response.created:
        text = f"created campaign {c.name!r} ({c.status}, version {c.version})"
    elif response.changed:
        text = f"updated campaign {c.name!r}: now version {c.version} ({c.status})"
    else:
        text = f"campaign {c.name!r} is unchanged (version {c.version}, {c.status})"
    if not args.json:
        for warning in warnings:
            say(f"warning: {args.file}: {warning}")
    return Result(document, text)


async def list_campaigns(args: argparse.Namespace, settings: Settings) -> Result:
    summaries = await campaign_pages.all_summaries(settings, args.workspace, args.timeout)
    documents = [campaign_pages.summary_document(s) for s in summaries]
    if not documents:
        return Result(documents, f"no campaigns in workspace {args.workspace!r} yet (herald campaigns apply -f FILE)")
    return Result(documents, table(campaign_pages.LIST_HEADERS, campaign_pages.list_rows(summaries), right=(4, 5, 6, 7)))


async def show_campaign(args: argparse.Namespace, settings: Settings) -> Result:
    request = campaign_pb2.GetCampaignRequest(workspace_id=args.workspace, name=args.name)
    async with connect("campaign", settings, args.timeout) as campaign:
        response = await _call(campaign, "GetCampaign", request)
    document = shapes.campaign_document(response, with_source=True)
    summary = fields([
        ("status", document["status"]), ("version", document["version"]), ("trigger", document["trigger_event"]),
        ("created", short_time(document["created_at"])), ("updated", short_time(document["updated_at"])),
    ], "  ")
    return Result(document, f"{document['name']}\n{summary}\n\n{document['source_yaml'].rstrip()}")


async def set_status(args: argparse.Namespace, settings: Settings) -> Result:
    method = {"pause": "PauseCampaign", "resume": "ResumeCampaign", "archive": "ArchiveCampaign"}[args.verb]
    request = campaign_pb2.SetCampaignStatusRequest(workspace_id=args.workspace, name=args.name)
    async with connect("campaign", settings, args.timeout) as campaign:
        response = await _call(campaign, method, request)
    return Result(shapes.campaign_document(response), f"campaign {response.name!r} is {response.status}")


async def campaign_stats(args: argparse.Namespace, settings: Settings) -> Result:
    request = campaign_pb2.GetCampaignStatsRequest(workspace_id=args.workspace, name=args.name)
    async with connect("campaign", settings, args.timeout) as campaign:
        response = await _call(campaign, "GetCampaignStats", request)
    document = shapes.stats_document(response)
    return Result(document, render_stats(document))


async def promote_variant(args: argparse.Namespace, settings: Settings) -> Result:
    request = campaign_pb2.PromoteVariantRequest(workspace_id=args.workspace, name=args.name, variant=args.variant)
    async with connect("campaign", settings, args.timeout) as campaign:
        response = await _call(campaign, "PromoteVariant", request)
    c = response.campaign
    document = {**shapes.campaign_document(c), "variant": args.variant, "changed": response.changed}
    return Result(document, f"campaign {c.name!r} now sends variant {args.variant!r} to everyone: version {c.version} ({c.status})")


def render_stats(d: dict) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(d["suppressed_by_reason"].items()))
    kept_out = ", ".join(f"{k} {v}" for k, v in sorted(d["not_entered"].items()))
    lines = [
        f"{d['name']} ({d['status']})",
        fields([
            ("triggered", d["triggered"] if not kept_out else f"{d['triggered']} (kept out: {kept_out})"),
            ("scheduled", d["scheduled"]),
            ("sent", d["sent"]),
            ("failed", d["failed"]),
            ("suppressed", d["suppressed"] if not reasons else f"{d['suppressed']} ({reasons})"),
            ("cancelled", d["cancelled"]),
            ("unknown", d["unknown"]),
            *([("held out", _held_out(d))] if d["held_out"] or d["holdout"] else []),
        ], "  "),
    ]
    if d["goals"]:
        rows = [
            [g["name"] + (" (primary)" if g["primary"] else ""), g["conversions"], f"{g['rate']:.1%}",
             _duration(g["average_seconds_to_convert"])]
            for g in d["goals"]
        ]
        lines += ["goals", "  " + table(["GOAL", "CONVERSIONS", "RATE", "AVG TIME TO CONVERT"], rows, right=(1, 2)).replace("\n", "\n  ")]
    if d["goals"] and d["held_out"]:
        rows = [
            [g["name"], f"{g['treatment']['conversions']}/{g['treatment']['size']} ({g['treatment']['rate']:.1%})",
             f"{g['control']['conversions']}/{g['control']['size']} ({g['control']['rate']:.1%})",
             "-" if g["lift"] is None else f"{g['lift']:+.1%}",
             f"{g['confidence']:.1%}" if g["confidence"] is not None else f"not enough data (needs {d['min_group_size']} in each group)"]
            for g in d["goals"]
        ]
        lines += ["lift (treatment: sent; control: held out)",
                  "  " + table(["GOAL", "TREATMENT", "CONTROL", "LIFT", "CONFIDENCE"], rows).replace("\n", "\n  ")]
    if d["variants"]:
        rows = []
        for v in d["variants"]:
            for g in v["goals"] or [{"name": "-", "conversions": 0, "rate": 0.0, "chance_to_beat_first": None}]:
                beats = g["chance_to_beat_first"]
                rows.append([v["name"], "-" if v["weight"] is None else f"{v['weight']}%", v["sent"], g["name"],
                             g["conversions"], f"{g['rate']:.1%}",
                             "(first)" if v is d["variants"][0] else ("-" if beats is None else f"{beats:.1%}")])
        lines += ["variants", "  " + table(["VARIANT", "WEIGHT", "SENT", "GOAL", "CONVERSIONS", "RATE", "CHANCE TO BEAT FIRST"],
                                           rows, right=(2, 4, 5)).replace("\n", "\n  ")]
    return "\n".join(lines)


def _held_out(d: dict) -> str:
    groups = ", ".join(f"{k} {v}" for k, v in d["held_out_by_group"].items())
    text = f"{d['held_out']}" + (f" ({groups})" if groups else "")
    return text + (f"; holdout {d['holdout']}" if d["holdout"] else "")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f}m"
    hours = minutes / 60
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


async def list_sends(args: argparse.Namespace, settings: Settings) -> Result:
    request = campaign_pb2.ListSendsRequest(
        workspace_id=args.workspace, campaign=args.campaign, user_id=args.user, limit=args.limit
    )
    async with connect("campaign", settings, args.timeout) as campaign:
        response = await _call(campaign, "ListSends", request)
    documents = [shapes.send_document(s) for s in response.sends]
    if not documents:
        return Result(documents, "no sends yet")
    rows = [
        [d["id"][:12], d["campaign"], d["user_id"], d["channel"], d["status"], short_time(d["due_at"]),
         short_time(d["sent_at"]), d["outcome"]]
        for d in documents
    ]
    return Result(documents, table(["SEND", "CAMPAIGN", "USER", "CHANNEL", "STATUS", "DUE", "SENT", "OUTCOME"], rows))
