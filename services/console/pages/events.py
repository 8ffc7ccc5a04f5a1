"""Events: the catalogue of the last 30 days (the product page's table), hide/unhide, define,
and one event's page (its property sets, 30 days of counts, its latest events)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import orjson

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from herald_common.protoconv import to_datetime
from herald_services.console.backend import NotFound, Refused
from herald_services.console.web import backend, link, render, workspace_of

PAGE_SIZE = 100
LATEST_EVENTS = 20
# What a hand-defined event is called, by the kind of Segment call that will send it (DESIGN.md).
KINDS = {"track": "[Segment] ", "page": "[Segment Page] ", "screen": "[Segment Screen] "}
MAX_NAME_LENGTH = 500


@dataclass(frozen=True)
class EventRow:
    name: str
    definitions: int
    times_seen: int
    seen_last_24h: bool
    times_seen_last_24h: int
    last_seen: object
    hidden: bool
    defined_by_hand: bool
    description: str

    @property
    def path(self) -> str:
        return event_path(self.name)


def event_path(name: str) -> str:
    return "/events/" + quote(name, safe="")


def event_row(definition) -> EventRow:
    """One catalogue entry: Yes/No is the catalogue's own `seen_in_last_24h` (interface 6)."""
    count = definition.times_seen_last_24h
    seen = definition.seen_in_last_24h
    return EventRow(
        name=definition.name,
        definitions=definition.definitions,
        times_seen=definition.times_seen,
        seen_last_24h=seen,
        times_seen_last_24h=count,
        last_seen=to_datetime(definition.last_seen) if definition.HasField("last_seen") else None,
        hidden=definition.hidden,
        defined_by_hand=definition.defined_by_hand,
        description=definition.description,
    )


async def list_events(request: Request, *, form: dict | None = None, errors: dict | None = None,
                      status_code: int = 200) -> Response:
    workspace = workspace_of(request)
    show_hidden = request.query_params.get("hidden") == "1"
    after = request.query_params.get("after", "")
    services = backend(request)
    response = await services.call("ingest", services.ingest.list_events(workspace, show_hidden))
    rows = [event_row(d) for d in response.events if d.name > after]
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    return render(request, "events/list.html", {
        "rows": page,
        "show_hidden": show_hidden,
        "next_link": link("/events", workspace, hidden="1" if show_hidden else None, after=page[-1].name) if more else "",
        "first_link": link("/events", workspace, hidden="1" if show_hidden else None) if after else "",
        "defined": request.query_params.get("defined", ""),
        "form": form or {"kind": "track", "name": "", "description": ""},
        "errors": errors or {},
        "kinds": KINDS,
    }, status_code=status_code)


async def events_page(request: Request) -> Response:
    return await list_events(request)


async def define_event(request: Request) -> Response:
    workspace = workspace_of(request)
    data = await request.form()
    form = {
        "kind": str(data.get("kind", "track")),
        "name": str(data.get("name", "")),
        "description": str(data.get("description", "")),
    }
    errors = validate_definition(form)
    if not errors:
        full_name = KINDS[form["kind"]] + form["name"].strip()
        services = backend(request)
        try:
            await services.call("ingest", services.ingest.define_event(workspace, full_name, form["description"].strip()))
        except Refused as refusal:
            errors = {"name" if key in ("name", "") else key: reason for key, reason in refusal.fields.items()} or {
                "name": refusal.details
            }
        else:
            return RedirectResponse(link("/events", workspace, defined=full_name), status_code=303)
    return await list_events(request, form=form, errors=errors, status_code=400)


def validate_definition(form: dict[str, str]) -> dict[str, str]:
    """What is wrong with a definition form, by field; empty when nothing is."""
    errors = {}
    if form["kind"] not in KINDS:
        errors["kind"] = f"must be one of {', '.join(KINDS)}"
    name = form["name"].strip()
    if not name:
        errors["name"] = "is required: the event's name as your code sends it, e.g. Signed Up"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        errors["name"] = "must not contain control characters (tabs, line breaks)"
    elif name.startswith("[Segment"):
        errors["name"] = "is the name as sent, without the [Segment] prefix: choose the kind of call instead"
    elif len(KINDS.get(form["kind"], "")) + len(name) > MAX_NAME_LENGTH:
        errors["name"] = f"is longer than {MAX_NAME_LENGTH} characters"
    if len(form["description"]) > 2000:
        errors["description"] = "is longer than 2,000 characters"
    return errors


async def set_hidden(request: Request, hidden: bool) -> Response:
    workspace = workspace_of(request)
    name = request.path_params["name"]
    services = backend(request)
    definition = await services.call(
        "ingest", services.ingest.hide_event(workspace, name, hidden), not_found=f"event {name!r}"
    )
    if request.headers.get("hx-request"):
        return render(request, "events/_row.html", {"row": event_row(definition), "show_hidden": True})
    data = await request.form()
    show_hidden = data.get("show_hidden") == "1"
    return RedirectResponse(link("/events", workspace, hidden="1" if show_hidden else None), status_code=303)


async def hide_event(request: Request) -> Response:
    return await set_hidden(request, True)


async def unhide_event(request: Request) -> Response:
    return await set_hidden(request, False)


async def event_page(request: Request) -> Response:
    workspace = workspace_of(request)
    name = request.path_params["name"]
    services = backend(request)
    definition = await services.call(
        "ingest", services.ingest.get_event_definition(workspace, name), not_found=f"event {name!r}"
    )
    if not definition.name:
        raise NotFound(f"event {name!r}")
    before = request.query_params.get("before", "")
    if before and not before.isdigit():
        raise NotFound(f"page {before!r} of event {name!r}", "The link to older events is not one this page gave.")
    latest = await services.call(
        "ingest", services.ingest.list_events_by_name(workspace, name, limit=LATEST_EVENTS, before_id=int(before or 0)),
        not_found=f"event {name!r}",
    )
    days = [(d.day, d.count) for d in definition.daily_counts]
    path = event_path(name)
    return render(request, "events/show.html", {
        "row": event_row(definition),
        "property_sets": [
            {"properties": list(s.properties), "count": s.count,
             "last_seen": to_datetime(s.last_seen) if s.HasField("last_seen") else None}
            for s in definition.property_sets
        ],
        "days": days,
        "chart": orjson.dumps({
            "labels": [day[5:] for day, _ in days],
            "series": [{"label": "Times seen", "data": [count for _, count in days]}],
        }).decode(),
        "latest": [
            {"id": e.id, "user_id": e.user_id, "anonymous_id": e.anonymous_id,
             "user_path": user_path(e.user_id or e.anonymous_id) if (e.user_id or e.anonymous_id) else "",
             "time": to_datetime(e.timestamp), "properties": pretty_json(e.properties_json)}
            for e in latest.events
        ],
        "latest_next": link(path, workspace, before=latest.next_before_id) + "#latest" if latest.next_before_id else "",
        "latest_first": link(path, workspace) + "#latest" if before else "",
    })


def user_path(some_id: str) -> str:
    return "/users/" + quote(some_id, safe="")


def pretty_json(raw: bytes) -> str:
    try:
        return orjson.dumps(orjson.loads(raw or b"{}"), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")


routes = [
    Route("/events", events_page, methods=["GET"], name="events"),
    Route("/events", define_event, methods=["POST"]),
    Route("/events/{name:path}/hide", hide_event, methods=["POST"]),
    Route("/events/{name:path}/unhide", unhide_event, methods=["POST"]),
    Route("/events/{name:path}", event_page, methods=["GET"], name="event"),
]
