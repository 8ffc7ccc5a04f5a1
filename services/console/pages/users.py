"""Users: search by user id, anonymous id or email; a user's profile (attributes, devices,
anonymous ids, merged profiles, groups, subscription state with unsubscribe / resubscribe), the
user's events newest first (paged by cursor), their sends with status and outcome, and Explain:
each campaign entry with every decision taken for it, in herald explain's words (a plain GET
form filters it by campaign, so it works without JavaScript)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from herald_common.explain import describe_step, entry_heading, explain_user, never_entered_text
from herald_common.protoconv import to_datetime
from herald_services.console.backend import NotFound, Refused, ServiceDown
from herald_services.console.pages.events import event_path, pretty_json, user_path
from herald_services.console.web import backend, link, render, workspace_of

SEARCH_LIMIT = 25
EVENTS_PAGE_SIZE = 25
SENDS_LIMIT = 50
EXPLAIN_LIMIT = 20
MAX_QUERY_LENGTH = 400


def when(stamp) -> object:
    return to_datetime(stamp) if stamp.seconds or stamp.nanos else None


@dataclass(frozen=True)
class Match:
    id: str
    path: str
    user_id: str
    email: str
    matched: str
    anonymous_ids: int
    created_at: object
    updated_at: object


async def users_page(request: Request) -> Response:
    workspace = workspace_of(request)
    query = request.query_params.get("q", "")
    errors: dict[str, str] = {}
    matches: list[Match] = []
    searched = bool(query.strip())
    if len(query) > MAX_QUERY_LENGTH:
        errors["q"] = f"is longer than {MAX_QUERY_LENGTH} characters"
    elif searched:
        services = backend(request)
        try:
            found = await services.call("identity", services.identity.search_users(workspace, query.strip(), SEARCH_LIMIT))
        except Refused as refusal:
            errors["q"] = refusal.fields.get("query") or refusal.details
        else:
            for item in found:
                user = item.user
                shown = user.user_id or (user.anonymous_ids[0] if user.anonymous_ids else user.profile_id)
                matches.append(Match(
                    id=shown, path=user_path(shown), user_id=user.user_id, email=item.email,
                    matched={"user_id": "user id", "anonymous_id": "anonymous id"}.get(item.matched, item.matched),
                    anonymous_ids=len(user.anonymous_ids), created_at=when(user.created_at),
                    updated_at=when(user.updated_at),
                ))
    return render(request, "users/search.html", {
        "query": query, "matches": matches, "searched": searched, "errors": errors, "limit": SEARCH_LIMIT,
    }, status_code=400 if errors else 200)


async def user_page(request: Request, *, errors: dict | None = None, form: dict | None = None,
                    status_code: int = 200) -> Response:
    workspace = workspace_of(request)
    some_id = request.path_params["id"]
    before = request.query_params.get("before", "")
    services = backend(request)
    user = await services.call("identity", services.identity.get_user(workspace, some_id), not_found=f"user {some_id!r}")
    explain_campaign = request.query_params.get("campaign", "").strip()
    events, subscriptions, sends, groups, campaigns, explained = await asyncio.gather(
        services.call("ingest", services.ingest.list_user_events(workspace, some_id, EVENTS_PAGE_SIZE, before),
                      not_found=f"user {some_id!r}"),
        services.call("campaign", services.campaign.get_subscriptions(workspace, some_id), not_found=f"user {some_id!r}"),
        services.call("campaign", services.campaign.user_sends(workspace, some_id, SENDS_LIMIT),
                      not_found=f"user {some_id!r}"),
        services.call("campaign", services.campaign.user_experiments(workspace, user_id=user.user_id,
                                                                     profile_id=user.profile_id)),
        services.call("campaign", services.campaign.campaign_names(workspace)),
        explanation(services, workspace, some_id, explain_campaign),
    )
    attributes = orjson.loads(user.attributes_json or b"{}")
    path = user_path(some_id)
    return render(request, "users/show.html", {
        "some_id": some_id,
        "path": path,
        "user": user,
        "title": user.user_id or some_id,
        "attributes": sorted(attributes.items()),
        "attribute_text": {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in attributes.items()},
        "devices": [{"kind": d.kind, "token": d.token, "last_seen": when(d.last_seen)} for d in user.devices],
        "created_at": when(user.created_at),
        "updated_at": when(user.updated_at),
        "unsubscribed_from_all": subscriptions.unsubscribed_from_all,
        "unsubscribed_campaigns": list(subscriptions.unsubscribed_campaigns),
        "global_control": groups.global_control,
        "global_control_text": groups.global_control_text,
        "groups": [{"campaign": g.campaign, "path": "/campaigns/" + quote(g.campaign, safe=""),
                    "group": g.group, "variant": g.variant} for g in groups.campaigns],
        "events": [
            {"id": e.id, "name": e.name, "path": event_path(e.name), "type": e.type, "time": when(e.timestamp),
             "received_at": when(e.received_at), "properties": pretty_json(e.properties_json)}
            for e in events.events
        ],
        "events_next": link(path, workspace, before=events.next_before) + "#events" if events.next_before else "",
        "events_first": link(path, workspace) + "#events" if before else "",
        "sends": [
            {"id": s.id, "campaign": s.campaign, "campaign_path": "/campaigns/" + quote(s.campaign, safe=""),
             "channel": s.channel, "status": s.status, "outcome": s.outcome, "due_at": when(s.due_at),
             "sent_at": when(s.sent_at)}
            for s in sends
        ],
        "sends_limit": SENDS_LIMIT,
        "explain": explained,
        "explain_campaign": explain_campaign,
        "campaign_names": sorted(campaigns.values()),
        "explain_limit": EXPLAIN_LIMIT,
        "explain_command": f"herald explain {shell_quote(some_id)}" + (
            f" --workspace {workspace}" if workspace != "default" else ""),
        "errors": errors or {},
        "form": form or {"campaign": ""},
        "done": request.query_params.get("done", ""),
    }, status_code=status_code)


async def explanation(services, workspace: str, some_id: str, campaign: str) -> dict:
    """The Explain section: the user's entries (of one campaign when asked) newest first, each
    step with herald explain's words; or why there is none (never entered, an unknown campaign)."""
    try:
        document = await explain_user(
            campaign=services.campaign, delivery=services.delivery, ingest=services.ingest, workspace_id=workspace,
            user=some_id, campaign_name=campaign, limit=EXPLAIN_LIMIT,
            call=lambda service, pending: services.call(service, pending, not_found=f"campaign {campaign!r}"),
        )
    except NotFound as missing:
        if not (campaign and "campaign" in missing.detail):
            raise
        return {"error": f"There is no campaign named {campaign!r} in this workspace.", "entries": []}
    except ServiceDown as down:  # the rest of the page is still worth showing
        return {"error": f"Not shown: {down.service} at {down.address} is {down.reason}.", "entries": []}
    never = document.get("never_entered")
    return {
        "error": "",
        "never_entered": never_entered_text(never, some_id) if never else "",
        "entries": [
            {"heading": entry_heading(entry), "status": entry["status"] or "unknown",
             "steps": [{"at": datetime.fromisoformat(step["at"]), "step": step["step"], "words": describe_step(step)}
                       for step in entry["steps"]]}
            for entry in document["entries"]
        ],
    }


def shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


async def show_user(request: Request) -> Response:
    return await user_page(request)


async def set_subscribed(request: Request, subscribed: bool) -> Response:
    workspace = workspace_of(request)
    some_id = request.path_params["id"]
    data = await request.form()
    form = {"campaign": str(data.get("campaign", ""))}
    campaign = form["campaign"].strip()
    errors: dict[str, str] = {}
    if len(campaign) > 200 or any(ord(c) < 32 for c in campaign):
        errors["campaign"] = "is not a campaign name (at most 200 characters, no control characters)"
    else:
        services = backend(request)
        try:
            await services.call(
                "campaign", services.campaign.set_subscribed(workspace, some_id, subscribed=subscribed, campaign=campaign),
                not_found=f"user {some_id!r}",
            )
        except NotFound as missing:
            if not (campaign and "campaign" in missing.detail):
                raise
            errors["campaign"] = f"there is no campaign named {campaign!r} in this workspace"
        except Refused as refusal:
            errors["campaign"] = refusal.details
        else:
            done = ("resubscribed" if subscribed else "unsubscribed") + (f":{campaign}" if campaign else "")
            return RedirectResponse(link(user_path(some_id), workspace, done=done) + "#subscription", status_code=303)
    return await user_page(request, errors=errors, form=form, status_code=400)


async def unsubscribe(request: Request) -> Response:
    return await set_subscribed(request, False)


async def resubscribe(request: Request) -> Response:
    return await set_subscribed(request, True)


routes = [
    Route("/users", users_page, methods=["GET"], name="users"),
    Route("/users/{id:path}/unsubscribe", unsubscribe, methods=["POST"]),
    Route("/users/{id:path}/resubscribe", resubscribe, methods=["POST"]),
    Route("/users/{id:path}", show_user, methods=["GET"], name="user"),
]
