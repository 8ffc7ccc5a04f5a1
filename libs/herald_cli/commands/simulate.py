"""herald campaigns simulate: what a campaign would have done over the recorded events of a period."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from herald.campaign.v1 import campaign_pb2
from herald_common.protoconv import set_timestamp
from herald_common.settings import Settings

from herald_cli.commands import read_command
from herald_cli.errors import CliError
from herald_cli.output import Result, table
from herald_cli.rpc import connect

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (604_800, 86_400, 3_600, 60, 1)
TIME_HINT = "a duration back from now like 7d, 12h, 1w2d, 'now', or an ISO time like 2026-11-30 or 2026-11-30T09:00:00Z"


def register(commands, common: argparse.ArgumentParser) -> None:
    simulate = commands.add_parser(
        "simulate", parents=[common],
        help="replay the recorded events of a period through a campaign, without sending or storing anything",
    )
    which = simulate.add_mutually_exclusive_group(required=True)
    which.add_argument("-f", "--file", metavar="FILE", help="a campaign YAML file ('-' reads stdin)")
    which.add_argument("--name", metavar="NAME", help="a stored campaign (a draft, say), its current version")
    simulate.add_argument("--since", default="7d", metavar="WHEN", help=f"start of the period (default 7d): {TIME_HINT}")
    simulate.add_argument("--until", default="now", metavar="WHEN", help="end of the period (default now)")
    simulate.set_defaults(handler=read_command(simulate_campaign))


def parse_when(value: str, option: str, now: datetime) -> datetime:
    """'7d' (that long before now), 'now', or an ISO date or time (UTC when it names no zone)."""
    text = value.strip().removeprefix("-")
    if text == "now":
        return now
    match = _DURATION.fullmatch(text)
    if text and match is not None and any(match.groups()):
        seconds = sum(int(amount) * unit for amount, unit in zip(match.groups(), _UNITS, strict=True) if amount)
        return now - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CliError(f"{option}: {value!r} is not a time ({TIME_HINT})") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def simulate_document(response: campaign_pb2.SimulateResponse, since: datetime, until: datetime) -> dict:
    return {
        "campaign": response.campaign,
        "since": since.isoformat().replace("+00:00", "Z"),
        "until": until.isoformat().replace("+00:00", "Z"),
        "events_replayed": response.events_replayed,
        "triggered": response.triggered,
        "entered": response.entered,
        "filtered_out": [{"condition": c.key, "users": c.count} for c in response.filtered_out],
        "cancelled": response.cancelled,
        "would_send": response.would_send,
        "would_send_by_day": [{"date": d.key, "sends": d.count} for d in response.would_send_by_day],
        "would_send_by_local_hour": [{"hour": int(h.key), "sends": h.count} for h in response.would_send_by_local_hour],
        "goals": [{"name": g.name, "conversions": g.conversions, "rate": g.rate} for g in response.goals],
        "kept_out_by_reentry": response.kept_out_by_reentry,
        "not_sent": [{"reason": n.key, "sends": n.count} for n in response.not_sent],
        "user_attributes": "as they are now",
    }


def render(d: dict) -> str:
    period = f"{d['since'][:16].replace('T', ' ')} to {d['until'][:16].replace('T', ' ')} UTC"
    lines = [f"Simulated {d['campaign']!r} over the events recorded {period}. Nothing was sent or stored."]
    if d["events_replayed"] == 0:
        lines.append("No events were recorded in this period: there is nothing to replay. Try a longer --since.")
        return "\n".join(lines)
    lines.append("User attributes are as they are now, not as they were when each event happened.")
    lines.append("")
    lines.append(f"  events replayed   {d['events_replayed']:,}")
    lines.append(f"  triggered         {d['triggered']:,}")
    lines.append(f"  entered           {d['entered']:,}")
    if d["kept_out_by_reentry"]:
        lines.append(f"  kept out by the re-entry rule  {d['kept_out_by_reentry']:,}")
    lines.append(f"  cancelled         {d['cancelled']:,}")
    lines.append(f"  would send        {d['would_send']:,}")
    for item in d["not_sent"]:
        lines.append(f"  not sent: {item['reason']}  {item['sends']:,}")
    if d["filtered_out"]:
        lines += ["", "Kept out by filter conditions (users for whom the condition did not hold):"]
        lines.append(table(["CONDITION", "USERS"], [[f["condition"], f["users"]] for f in d["filtered_out"]], right=(1,)))
    if d["would_send_by_day"]:
        lines += ["", "Would send per day (UTC):"]
        lines.append(table(["DATE", "SENDS"], [[x["date"], x["sends"]] for x in d["would_send_by_day"]], right=(1,)))
    if d["would_send_by_local_hour"]:
        lines += ["", "Would send per hour of the users' local time:"]
        lines.append(table(["HOUR", "SENDS"], [[f"{x['hour']:02d}:00", x["sends"]] for x in d["would_send_by_local_hour"]],
                           right=(1,)))
    if d["goals"]:
        lines += ["", "Goals it would have measured:"]
        lines.append(table(["GOAL", "CONVERSIONS", "RATE"],
                           [[g["name"], g["conversions"], f"{g['rate']:.1%}"] for g in d["goals"]], right=(1, 2)))
    return "\n".join(lines)


async def simulate_campaign(args: argparse.Namespace, settings: Settings) -> Result:
    from herald_cli.commands.campaigns import _call, _read_file

    now = datetime.now(UTC)
    since, until = parse_when(args.since, "--since", now), parse_when(args.until, "--until", now)
    if since >= until:
        raise CliError(f"--since ({args.since}) must be before --until ({args.until})")
    request = campaign_pb2.SimulateRequest(workspace_id=args.workspace)
    if args.file:
        request.source_yaml = _read_file(args.file)
        request.file_name = Path(args.file).name
    else:
        request.name = args.name
    set_timestamp(request.since, since)
    set_timestamp(request.until, until)
    timeout = args.timeout if args.timeout is not None else max(settings.rpc_timeout_seconds, 300)
    try:
        async with connect("campaign", settings, timeout) as campaign:
            response = await _call(campaign, "Simulate", request)
    except CliError as error:
        if args.file:
            raise CliError(f"{args.file}: {error.message}") from None
        raise
    document = simulate_document(response, since, until)
    return Result(document, render(document))
