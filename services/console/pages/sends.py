"""Sends: the workspace's sends newest first, filterable by campaign, status and channel, paged
by cursor (delivery's ListSends `before`, never OFFSET), each with its provider outcome."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald_common.protoconv import to_datetime
from herald_services.console.backend import Refused
from herald_services.console.pages.events import user_path
from herald_services.console.web import backend, link, render, workspace_of

PAGE_SIZE = 50
STATUSES = ("scheduled", "sending", "sent", "failed", "suppressed", "cancelled", "unknown")
CHANNELS = ("email", "sms", "voice", "push", "webhook")


def when(stamp):
    return to_datetime(stamp) if stamp.seconds or stamp.nanos else None


async def sends_page(request: Request) -> Response:
    workspace = workspace_of(request)
    form = {key: request.query_params.get(key, "").strip() for key in ("campaign", "status", "channel")}
    before = request.query_params.get("before", "")
    errors: dict[str, str] = {}
    if form["status"] and form["status"] not in STATUSES:
        errors["status"] = f"must be one of {', '.join(STATUSES)}"
    if form["channel"] and form["channel"] not in CHANNELS:
        errors["channel"] = f"must be one of {', '.join(CHANNELS)}"
    services = backend(request)
    names = await services.call("campaign", services.campaign.campaign_names(workspace))
    ids_by_name = {name: campaign_id for campaign_id, name in names.items()}
    campaign_id = ""
    if form["campaign"]:
        campaign_id = ids_by_name.get(form["campaign"], "")
        if not campaign_id:
            errors["campaign"] = f"there is no campaign named {form['campaign']!r} in this workspace"
    rows, next_before = [], ""
    if not errors:
        try:
            answer = await services.call("delivery", services.delivery.list_sends(
                workspace_id=workspace, campaign_id=campaign_id, status=form["status"], channel=form["channel"],
                before=before, limit=PAGE_SIZE,
            ))
        except Refused as refusal:
            errors.update({k if k in form else "page": v for k, v in refusal.fields.items()} or {"page": refusal.details})
        else:
            next_before = answer.next_before
            for send in answer.sends:
                name = names.get(send.campaign_id, "")
                rows.append({
                    "id": send.id, "campaign": name or send.campaign_id,
                    "campaign_path": "/campaigns/" + quote(name, safe="") if name else "",
                    "user": send.user_id or send.profile_id, "user_path": user_path(send.user_id) if send.user_id else "",
                    "channel": send.channel, "status": send.status, "outcome": send.outcome,
                    "created_at": when(send.created_at), "due_at": when(send.due_at), "sent_at": when(send.sent_at),
                    "attempts": send.attempts,
                })
    filters = {k: v for k, v in form.items() if v}
    return render(request, "sends/list.html", {
        "rows": rows,
        "form": form,
        "errors": errors,
        "campaigns": sorted(ids_by_name),
        "statuses": STATUSES,
        "channels": CHANNELS,
        "filtered": bool(filters),
        "next_link": link("/sends", workspace, **filters, before=next_before) if next_before else "",
        "first_link": link("/sends", workspace, **filters) if before else "",
    }, status_code=400 if errors else 200)


routes = [
    Route("/sends", sends_page, methods=["GET"], name="sends"),
]
