"""Campaigns: the list with each campaign's figures, a campaign's page (stats, a chart of sends and
conversions per day, goals, suppressions, latest sends, versions, pause / resume / archive with a
confirmation), and the editor (the YAML file, checked as `apply` checks it, with a preview of the
message for a user).

The editor saves through ApplyCampaign, so the file the console saves and the file the CLI
applies are the same thing: `herald campaigns show NAME` gives back what was saved.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
import yaml
from google.protobuf.message import Message
from herald.campaign.v1 import campaign_pb2
from herald_common.protoconv import to_datetime
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from herald_services.console.backend import Backend, NotFound, Refused
from herald_services.console.web import backend, form_text, link, render, workspace_of

LIST_PAGE = 50
LATEST_SENDS = 20
VERSIONS_PAGE = 10
MAX_FILE_BYTES = 256 * 1024
MAX_EVENT_BYTES = 32 * 1024  # a Segment call's own limit
USER_EVENTS_SEARCHED = 200  # the user's latest events searched for one of the trigger's name
CONSOLE_FILE_NAME = "console"  # the file name a version saved in the editor is listed with

# What each status change means, for its confirmation page: (button, title, what happens, allowed from).
ACTIONS = {
    "pause": ("Pause", "Pause {name}?",
              "No new users enter while it is paused. Sends already scheduled wait (they are neither sent nor "
              "dropped) until you resume it.", ("live",)),
    "resume": ("Resume", "Make {name} live?",
               "Users who trigger it from now on enter it. Held sends go out again, spread over time.",
               ("paused", "draft", "archived")),
    "archive": ("Archive", "Archive {name}?",
                "No new users enter, and sends still pending are suppressed (campaign_archived). Its figures, "
                "sends and versions stay. You can make it live again later.", ("live", "paused", "draft")),
}

STARTER = """\
# A campaign file, the same as `herald campaigns apply -f FILE` takes (docs/campaigns.md).
name: My campaign
trigger:
  event: "[Segment] Signed Up"
delay: 1h
message:
  channel: email
  subject: "Welcome, {{ first_name | default: 'there' }}"
  body: |
    Hi {{ first_name | default: 'there' }},
    thanks for signing up.
goals:
  - name: Activated
    event: "[Segment] Activated"
    within: 7d
"""

# The CampaignStats fields the page draws in its own sections; any other field the service adds
# (holdout lift, control group, variants) is drawn by `extra_figures` without a change here.
_STATS_DRAWN = {"name", "status", "triggered", "scheduled", "sent", "failed", "suppressed", "suppressed_by_reason",
                "goals", "cancelled", "unknown", "not_entered", "held_out", "held_out_by_group", "holdout", "variants",
                "min_group_size"}


def campaign_path(name: str, *rest: str) -> str:
    return "/".join(["/campaigns/" + quote(name, safe=""), *rest])


async def rpc(services: Backend, method: str, request: Message, *, not_found: str | None = None):
    client = services.campaign
    pending = getattr(client.stub, method)(request, timeout=client.timeout, metadata=client.metadata(method))
    return await services.call("campaign", pending, not_found=not_found)


# ---- the list ------------------------------------------------------------------------------


async def campaigns_page(request: Request) -> Response:
    workspace = workspace_of(request)
    token = request.query_params.get("page", "")
    services = backend(request)
    try:
        response = await rpc(services, "ListCampaignSummaries", campaign_pb2.ListCampaignSummariesRequest(
            workspace_id=workspace, page_size=LIST_PAGE, page_token=token))
    except Refused:  # a page link from before, or typed by hand: start again from the first page
        return RedirectResponse(link("/campaigns", workspace), status_code=303)
    rows = [{
        "name": s.campaign.name, "path": campaign_path(s.campaign.name), "status": s.campaign.status,
        "channel": s.channel, "trigger": s.campaign.trigger_event, "triggered": s.triggered, "sent": s.sent,
        "goal": s.primary_goal, "conversions": s.primary_conversions, "rate": s.primary_rate,
        "version": s.campaign.version, "updated": to_datetime(s.campaign.updated_at),
    } for s in response.campaigns]
    return render(request, "campaigns/list.html", {
        "rows": rows,
        "next_link": link("/campaigns", workspace, page=response.next_page_token) if response.next_page_token else "",
        "first_link": link("/campaigns", workspace) if token else "",
        "changed": request.query_params.get("changed", ""),
    })


# ---- one campaign --------------------------------------------------------------------------


def extra_figures(stats: campaign_pb2.CampaignStats) -> list[dict[str, Any]]:
    """Every field of CampaignStats the page does not draw by name, as a figure (a number or a
    text), a list of key/value pairs (a map) or a table (repeated messages)."""
    found = []
    for descriptor in stats.DESCRIPTOR.fields:
        if descriptor.name in _STATS_DRAWN:
            continue
        label = descriptor.name.replace("_", " ").capitalize()
        value = getattr(stats, descriptor.name)
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            if value:
                found.append({"kind": "map", "label": label, "items": sorted(dict(value).items())})
        elif _repeated(descriptor):
            if descriptor.message_type is not None and len(value):
                columns = [f.name for f in descriptor.message_type.fields]
                found.append({"kind": "table", "label": label, "columns": [c.replace("_", " ") for c in columns],
                              "rows": [[_plain(getattr(item, c)) for c in columns] for item in value]})
            elif len(value):
                found.append({"kind": "figure", "label": label, "value": ", ".join(str(v) for v in value)})
        elif descriptor.message_type is not None:
            if stats.HasField(descriptor.name):
                found.append({"kind": "map", "label": label,
                              "items": [(f.name, _plain(v)) for f, v in value.ListFields()]})
        elif descriptor.has_presence and not stats.HasField(descriptor.name):
            continue
        else:
            found.append({"kind": "figure", "label": label, "value": _plain(value)})
    return found


def _repeated(descriptor) -> bool:
    """Whether a field is repeated (protobuf 6 has `is_repeated`; older ones only `label`)."""
    repeated = getattr(descriptor, "is_repeated", None)
    return bool(repeated) if repeated is not None else descriptor.label == descriptor.LABEL_REPEATED


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Message):
        return ", ".join(f"{f.name} {_plain(v)}" for f, v in value.ListFields())
    return value


def _optional(message: Message, field: str) -> float | None:
    return getattr(message, field) if message.HasField(field) else None


def experiment(stats: campaign_pb2.CampaignStats) -> dict[str, Any] | None:
    """The holdout's comparison, goal by goal (as `herald campaigns stats` prints it): treatment
    (sent) against control (held out), their rates, lift and confidence; None without a control
    group (no holdout in the file, and nobody held out by the workspace's global control)."""
    if not stats.holdout and not stats.held_out:
        return None
    return {
        "holdout": stats.holdout,
        "held_out": stats.held_out,
        "by_group": sorted(stats.held_out_by_group.items()),
        "min_group_size": stats.min_group_size,
        "goals": [{
            "name": g.name, "primary": g.primary,
            "treatment": (g.treatment_conversions, stats.sent, g.treatment_rate),
            "control": (g.control_conversions, stats.held_out, g.control_rate),
            "lift": _optional(g, "lift"), "confidence": _optional(g, "confidence"), "enough_data": g.enough_data,
        } for g in stats.goals],
    }


def variants(stats: campaign_pb2.CampaignStats) -> list[dict[str, Any]]:
    """Every variant's sent, and per goal its conversions, rate and chance to beat the first;
    those of the current version (a weight) can be promoted."""
    current = sum(1 for v in stats.variants if v.weight)
    return [{
        "name": v.name, "weight": v.weight or None, "sent": v.sent, "first": index == 0,
        "promotable": bool(v.weight) and current > 1,
        "goals": [{"name": g.name, "conversions": g.conversions, "rate": g.rate,
                   "beats": _optional(g, "chance_to_beat_first")} for g in v.goals],
    } for index, v in enumerate(stats.variants)]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


async def campaign_page(request: Request) -> Response:
    workspace = workspace_of(request)
    name = request.path_params["name"]
    services = backend(request)
    what = f"campaign {name!r}"
    versions_token = request.query_params.get("versions", "")
    # The page's five reads at once: it waits for the slowest, not for their sum.
    try:
        campaign, stats, daily, sends, versions = await asyncio.gather(
            rpc(services, "GetCampaign", campaign_pb2.GetCampaignRequest(workspace_id=workspace, name=name),
                not_found=what),
            rpc(services, "GetCampaignStats", campaign_pb2.GetCampaignStatsRequest(workspace_id=workspace, name=name),
                not_found=what),
            rpc(services, "GetCampaignDaily", campaign_pb2.GetCampaignDailyRequest(workspace_id=workspace, name=name),
                not_found=what),
            rpc(services, "ListSends", campaign_pb2.ListSendsRequest(workspace_id=workspace, campaign=name,
                                                                     limit=LATEST_SENDS), not_found=what),
            rpc(services, "ListCampaignVersions", campaign_pb2.ListCampaignVersionsRequest(
                workspace_id=workspace, name=name, page_size=VERSIONS_PAGE, page_token=versions_token), not_found=what),
        )
    except Refused:  # a versions page link from before: start again from the newest
        return RedirectResponse(link(campaign_path(name), workspace), status_code=303)
    chart = {
        "labels": [d.day[5:] for d in daily.days],
        "series": [{"label": "Sent", "data": [d.sent for d in daily.days]}]
        + ([{"label": f"Conversions ({daily.primary_goal})", "data": [d.conversions for d in daily.days]}]
           if daily.primary_goal else []),
    }
    return render(request, "campaigns/show.html", {
        "campaign": campaign,
        "updated": to_datetime(campaign.updated_at),
        "path": campaign_path(name),
        "stats": stats,
        "not_entered": sorted(stats.not_entered.items()),
        "suppressed_by_reason": sorted(stats.suppressed_by_reason.items(), key=lambda item: (-item[1], item[0])),
        "goals": [{"name": g.name, "primary": g.primary, "conversions": g.conversions, "rate": g.rate,
                   "average": duration(g.average_seconds_to_convert if g.HasField("average_seconds_to_convert") else None)}
                  for g in stats.goals],
        "extras": extra_figures(stats),
        "experiment": experiment(stats),
        "variants": variants(stats),
        "days": list(daily.days),
        "primary_goal": daily.primary_goal,
        "chart_json": json.dumps(chart),
        "sends": [{"id": s.id, "user_id": s.user_id, "channel": s.channel, "status": s.status,
                   "due_at": to_datetime(s.due_at), "sent_at": to_datetime(s.sent_at), "outcome": s.outcome}
                  for s in sends.sends],
        "versions": [{"version": v.version, "current": v.current, "file_name": v.file_name,
                      "created_at": to_datetime(v.created_at), "source_yaml": v.source_yaml} for v in versions.versions],
        "versions_next": link(campaign_path(name), workspace, versions=versions.next_page_token) + "#versions"
        if versions.next_page_token else "",
        "versions_first": link(campaign_path(name), workspace) + "#versions" if versions_token else "",
        "actions": [(verb, ACTIONS[verb][0]) for verb in ACTIONS if campaign.status in ACTIONS[verb][3]],
        "changed": request.query_params.get("changed", ""),
        "preview_link": link(campaign_path(name, "preview"), workspace),
    })


# ---- pause / resume / archive --------------------------------------------------------------


async def confirm_action(request: Request) -> Response:
    workspace = workspace_of(request)
    name, verb = request.path_params["name"], request.path_params["verb"]
    services = backend(request)
    campaign = await rpc(services, "GetCampaign", campaign_pb2.GetCampaignRequest(workspace_id=workspace, name=name),
                         not_found=f"campaign {name!r}")
    button, title, meaning, allowed = ACTIONS[verb]
    return render(request, "campaigns/confirm.html", {
        "campaign": campaign, "verb": verb, "button": button, "title": title.format(name=name), "meaning": meaning,
        "allowed": campaign.status in allowed, "path": campaign_path(name),
    })


async def do_action(request: Request) -> Response:
    workspace = workspace_of(request)
    name, verb = request.path_params["name"], request.path_params["verb"]
    method = {"pause": "PauseCampaign", "resume": "ResumeCampaign", "archive": "ArchiveCampaign"}[verb]
    services = backend(request)
    changed = await rpc(services, method, campaign_pb2.SetCampaignStatusRequest(workspace_id=workspace, name=name),
                        not_found=f"campaign {name!r}")
    return RedirectResponse(link(campaign_path(name), workspace, changed=changed.status), status_code=303)


async def confirm_promote(request: Request) -> Response:
    workspace = workspace_of(request)
    name = request.path_params["name"]
    variant = request.query_params.get("variant", "")
    services = backend(request)
    campaign = await rpc(services, "GetCampaign", campaign_pb2.GetCampaignRequest(workspace_id=workspace, name=name),
                         not_found=f"campaign {name!r}")
    stats = await rpc(services, "GetCampaignStats", campaign_pb2.GetCampaignStatsRequest(workspace_id=workspace, name=name),
                      not_found=f"campaign {name!r}")
    names = [v.name for v in stats.variants if v.weight]
    if variant not in names:
        raise NotFound(f"variant {variant!r} of campaign {name!r}")
    return render(request, "campaigns/promote.html", {
        "campaign": campaign, "variant": variant, "others": [n for n in names if n != variant],
        "holdout": stats.holdout, "path": campaign_path(name),
    })


async def do_promote(request: Request) -> Response:
    workspace = workspace_of(request)
    name = request.path_params["name"]
    form = await request.form()
    variant = str(form.get("variant", ""))
    services = backend(request)
    promoted = await rpc(services, "PromoteVariant", campaign_pb2.PromoteVariantRequest(
        workspace_id=workspace, name=name, variant=variant), not_found=f"campaign {name!r}")
    changed = f"variant {variant} promoted; version {promoted.campaign.version}, {promoted.campaign.status}"
    return RedirectResponse(link(campaign_path(name), workspace, changed=changed), status_code=303)


def _verb_route(handler):
    """/campaigns/{name}/{verb}: a campaign whose name has a '/' in it ("Spring/EU") reaches here
    too: a GET of a word that is not a verb is that campaign's page."""
    async def route(request: Request) -> Response:
        verb = request.path_params["verb"]
        if verb == "promote":
            return await (confirm_promote if request.method == "GET" else do_promote)(request)
        if verb not in ACTIONS:
            if request.method != "GET":
                raise NotFound(f"page {request.url.path}")
            request.scope["path_params"] = {"name": f"{request.path_params['name']}/{verb}"}
            return await campaign_page(request)
        return await handler(request)
    return route


# ---- the editor ----------------------------------------------------------------------------


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def line_of(source: str, path: str) -> int | None:
    """The line (from 1) of the file where `path` ("filters.any_of[0].all_of[1].op") is written:
    the key's line when the path names one, else its parent's; None when it cannot be found."""
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for name, index in _PATH_PART.findall(path):
        if isinstance(node, yaml.MappingNode) and name:
            found = next(((key, value) for key, value in node.value if getattr(key, "value", None) == name), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            break
    return line


@dataclass
class EditorForm:
    source_yaml: str = ""
    preview_user: str = ""
    preview_event: str = ""


def _editor_context(*, campaign: campaign_pb2.Campaign | None, form: EditorForm, errors: dict[str, str] | None = None,
                    problem: str = "", preview: dict | None = None, preview_errors: dict[str, str] | None = None,
                    warnings: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    status = campaign.status if campaign is not None else ""
    return {
        "campaign": campaign, "status": status, "form": form, "errors": errors or {}, "problem": problem,
        "error_lines": {field: line_of(form.source_yaml, field) for field in (errors or {})},
        "preview": preview, "preview_errors": preview_errors or {}, "warnings": warnings or [],
        "action": campaign_path(campaign.name, "edit") if campaign is not None else "/campaigns/new",
        "path": campaign_path(campaign.name) if campaign is not None else "",
    }


async def new_page(request: Request) -> Response:
    return render(request, "campaigns/edit.html", _editor_context(campaign=None, form=EditorForm(source_yaml=STARTER)))


async def edit_page(request: Request) -> Response:
    workspace = workspace_of(request)
    name = request.path_params["name"]
    services = backend(request)
    campaign = await rpc(services, "GetCampaign", campaign_pb2.GetCampaignRequest(workspace_id=workspace, name=name),
                         not_found=f"campaign {name!r}")
    form = EditorForm(source_yaml=campaign.source_yaml, preview_user=request.query_params.get("user", ""))
    return render(request, "campaigns/edit.html", _editor_context(campaign=campaign, form=form))


async def save(request: Request) -> Response:
    """POST of the editor: `action` is draft, save, live or preview."""
    workspace = workspace_of(request)
    services = backend(request)
    data = await request.form()
    form = EditorForm(source_yaml=form_text(data.get("source_yaml")), preview_user=str(data.get("preview_user", "")).strip(),
                      preview_event=form_text(data.get("preview_event")).strip())
    action = str(data.get("action", "save"))
    name = request.path_params.get("name")
    campaign = None
    if name is not None:
        campaign = await rpc(services, "GetCampaign", campaign_pb2.GetCampaignRequest(workspace_id=workspace, name=name),
                             not_found=f"campaign {name!r}")

    def again(status_code: int = 400, **context) -> Response:
        return render(request, "campaigns/edit.html", _editor_context(campaign=campaign, form=form, **context),
                      status_code=status_code)

    if action not in ("draft", "save", "live", "preview"):
        return again(problem=f"action: {action!r} is not one of draft, save, live, preview")
    if not form.source_yaml.strip():
        return again(errors={"source_yaml": "the campaign file is empty"}, problem="Nothing was saved.")
    if len(form.source_yaml.encode()) > MAX_FILE_BYTES:
        return again(errors={"source_yaml": f"is larger than {MAX_FILE_BYTES // 1024} KB"}, problem="Nothing was saved.")
    if action == "preview":
        return await _preview_in_editor(request, services, workspace, form, again)
    try:
        applied = await rpc(services, "ApplyCampaign", campaign_pb2.ApplyCampaignRequest(
            workspace_id=workspace, source_yaml=form.source_yaml, file_name=CONSOLE_FILE_NAME,
            draft=action == "draft"), not_found=f"campaign {name!r}" if name else None)
    except Refused as refusal:
        return again(errors=refusal.fields or {"source_yaml": refusal.details},
                     problem="Nothing was saved: the file has errors, each below by its path in the file.")
    saved = applied.campaign
    if name is not None and saved.name != name:
        note = f"created {saved.name!r}: the file's name differs from {name!r}, which is unchanged"
    else:
        note = "saved" if applied.changed else "unchanged"
    if action == "live" and saved.status != "live":
        saved = await rpc(services, "ResumeCampaign", campaign_pb2.SetCampaignStatusRequest(
            workspace_id=workspace, name=saved.name), not_found=f"campaign {saved.name!r}")
    status_note = f"{note}; version {saved.version}, {saved.status}"
    if applied.warnings:
        status_note += "; warnings: " + "; ".join(f"{w.field}: {w.reason}" for w in applied.warnings)
    return RedirectResponse(link(campaign_path(saved.name), workspace, changed=status_note), status_code=303)


async def _preview_in_editor(request, services: Backend, workspace: str, form: EditorForm, again) -> Response:
    preview_errors = check_preview_form(form)
    if preview_errors:
        return again(preview_errors=preview_errors)
    try:
        preview = await preview_for(services, workspace, source_yaml=form.source_yaml, user=form.preview_user,
                                    event_json=form.preview_event)
    except Refused as refusal:
        fields = dict(refusal.fields)
        event_reason = fields.pop("event_properties_json", None)
        if event_reason or refusal.details.startswith("event_properties_json"):
            return again(preview_errors={"preview_event": event_reason or refusal.details.split(":", 1)[-1].strip()})
        return again(errors=fields or {"source_yaml": refusal.details},
                     problem="The file has errors, each below by its path; fix them to preview it.")
    except NotFound as missing:
        return again(preview_errors={"preview_user": f"no user {form.preview_user!r} in this workspace ({missing.detail})"})
    return again(status_code=200, preview=preview, warnings=preview["warnings"])


def check_preview_form(form: EditorForm) -> dict[str, str]:
    errors = {}
    if not form.preview_user:
        errors["preview_user"] = "is required: the user id (or anonymous id) to render the message for"
    elif len(form.preview_user) > 400 or any(ord(c) < 32 for c in form.preview_user):
        errors["preview_user"] = "is not a user id (at most 400 characters, no control characters)"
    if form.preview_event:
        if len(form.preview_event.encode()) > MAX_EVENT_BYTES:
            errors["preview_event"] = "is larger than 32 KB"
        else:
            try:
                parsed = json.loads(form.preview_event)
            except ValueError as error:
                errors["preview_event"] = f"is not JSON: {error}"
            else:
                if not isinstance(parsed, dict):
                    errors["preview_event"] = 'must be a JSON object of the event\'s properties, like {"price": 50}'
    return errors


async def preview_for(services: Backend, workspace: str, *, user: str, event_json: str, name: str = "",
                      source_yaml: str = "") -> dict[str, Any]:
    """The message for `user`: after the event typed as JSON, else after this user's latest
    event of the campaign's trigger (ingest), else after an event with no properties."""
    request = campaign_pb2.PreviewMessageRequest(workspace_id=workspace, name=name, source_yaml=source_yaml,
                                                 user_id=user)
    if event_json:
        request.event_properties_json = event_json.encode()
        source = "the event properties typed above"
    else:
        trigger = await _trigger_of(services, workspace, name=name, source_yaml=source_yaml)
        latest = await _latest_event(services, workspace, user, trigger)
        if latest is not None:
            request.event_properties_json = latest.properties_json or b"{}"
            request.event_name = latest.name
            request.event_time.CopyFrom(latest.timestamp)
            source = f"{user}'s latest {trigger} event, of {_when(to_datetime(latest.timestamp))}"
        else:
            source = f"an event with no properties: {user} has sent no {trigger} event yet" if trigger else \
                "an event with no properties"
    response = await rpc(services, "PreviewMessage", request, not_found=f"user {user!r}")
    return preview_view(response, source)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


async def _trigger_of(services: Backend, workspace: str, *, name: str, source_yaml: str) -> str:
    if name:
        campaign = await rpc(services, "GetCampaign", campaign_pb2.GetCampaignRequest(workspace_id=workspace, name=name),
                             not_found=f"campaign {name!r}")
        return campaign.trigger_event
    from herald_services.campaign.spec import CampaignFileInvalid, load_yaml  # the YAML only, no RPC

    try:
        document = load_yaml(source_yaml)
    except (CampaignFileInvalid, ValueError):
        return ""
    trigger = document.get("trigger") if isinstance(document, dict) else None
    event = trigger.get("event") if isinstance(trigger, dict) else None
    return event if isinstance(event, str) else ""


async def _latest_event(services: Backend, workspace: str, user: str, trigger: str):
    if not trigger:
        return None
    try:
        events = await services.call("ingest", services.ingest.list_user_events(workspace, user, USER_EVENTS_SEARCHED),
                                     not_found=f"user {user!r}")
    except NotFound:
        return None  # PreviewMessage says the user is not there
    return next((event for event in events.events if event.name == trigger), None)


def preview_view(response: campaign_pb2.PreviewMessageResponse, source: str) -> dict[str, Any]:
    message = response.message
    data = orjson.loads(message.data_json) if response.HasField("message") and message.data_json else None
    return {
        "channel": response.channel, "user_id": response.user_id, "source": source,
        "conditions_hold": response.conditions_hold, "render_error": response.render_error,
        "addresses": [(a.kind, a.value) for a in response.addresses],
        "message": message if response.HasField("message") else None,
        "data_text": json.dumps(data, indent=2, ensure_ascii=False) if data is not None else "",
        "attributes": sorted((orjson.loads(response.attributes_json or b"{}")).items()),
        "warnings": [(w.field, w.reason) for w in response.warnings],
    }


async def preview_page(request: Request) -> Response:
    """GET /campaigns/{name}/preview?user=ID[&event=JSON]: the campaign as applied, for one user."""
    workspace = workspace_of(request)
    name = request.path_params["name"]
    services = backend(request)
    campaign = await rpc(services, "GetCampaign", campaign_pb2.GetCampaignRequest(workspace_id=workspace, name=name),
                         not_found=f"campaign {name!r}")
    form = EditorForm(preview_user=request.query_params.get("user", "").strip(),
                      preview_event=request.query_params.get("event", "").strip())
    errors: dict[str, str] = {}
    preview = None
    if "user" in request.query_params:
        errors = check_preview_form(form)
        if not errors:
            try:
                preview = await preview_for(services, workspace, user=form.preview_user, event_json=form.preview_event,
                                            name=name)
            except NotFound as missing:
                if missing.what.startswith("campaign"):
                    raise
                errors = {"preview_user": f"no user {form.preview_user!r} in this workspace"}
            except Refused as refusal:
                errors = {"preview_event": refusal.details}
    return render(request, "campaigns/preview.html", {
        "campaign": campaign, "path": campaign_path(name), "form": form, "preview_errors": errors, "preview": preview,
    }, status_code=400 if errors else 200)


routes = [
    Route("/campaigns", campaigns_page, methods=["GET"], name="campaigns"),
    Route("/campaigns/new", new_page, methods=["GET"]),
    Route("/campaigns/new", save, methods=["POST"]),
    Route("/campaigns/{name:path}/edit", edit_page, methods=["GET"]),
    Route("/campaigns/{name:path}/edit", save, methods=["POST"]),
    Route("/campaigns/{name:path}/preview", preview_page, methods=["GET"]),
    Route("/campaigns/{name:path}/{verb:str}", _verb_route(confirm_action), methods=["GET"]),
    Route("/campaigns/{name:path}/{verb:str}", _verb_route(do_action), methods=["POST"]),
    Route("/campaigns/{name:path}", campaign_page, methods=["GET"], name="campaign"),
]
