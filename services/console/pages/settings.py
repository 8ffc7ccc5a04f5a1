"""Settings: the workspace's frequency caps, quiet hours and global control group (docs/limits.md,
docs/experiments.md), shown as they are applied and edited as their YAML file, checked as
`herald settings apply` checks it (errors inline by path). The file saved here and the file the
CLI applies are the same thing: `herald settings show` gives back what was saved."""

from __future__ import annotations

from typing import Any

from herald.campaign.v1 import campaign_pb2
from herald_common.protoconv import to_datetime
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from herald_services.console.backend import Refused
from herald_services.console.pages.campaigns import MAX_FILE_BYTES, line_of, rpc
from herald_services.console.web import backend, form_text, link, render, workspace_of

CONSOLE_FILE_NAME = "console"
STARTER = """\
# Workspace settings, as `herald settings apply -f FILE` takes them (docs/limits.md).
frequency_caps:
  - {channel: any, max: 3, per: 1d}
  - {channel: sms, max: 1, per: calendar_day}
quiet_hours: {start: "21:00", end: "08:00"}
global_control: 0%
"""


def figures(settings: campaign_pb2.WorkspaceSettings) -> dict[str, Any]:
    """The settings as the page lists them (as `herald settings show` prints them)."""
    quiet = settings.quiet_hours if settings.HasField("quiet_hours") else None
    return {
        "applied": settings.HasField("updated_at"),
        "updated_at": to_datetime(settings.updated_at) if settings.HasField("updated_at") else None,
        "file_name": settings.file_name,
        "caps": [{"channel": cap.channel, "max": cap.max, "per": cap.per or ("calendar_day" if cap.calendar_day else "")}
                 for cap in settings.frequency_caps],
        "quiet_hours": {"start": quiet.start, "end": quiet.end, "fallback_timezone": quiet.fallback_timezone}
        if quiet is not None else None,
        "global_control": settings.global_control_text or "0%",
    }


async def _settings(request: Request) -> campaign_pb2.WorkspaceSettings:
    return await rpc(backend(request), "GetSettings", campaign_pb2.GetSettingsRequest(workspace_id=workspace_of(request)))


def _page(request: Request, settings: campaign_pb2.WorkspaceSettings, *, source: str, errors: dict[str, str] | None = None,
          problem: str = "", status_code: int = 200) -> Response:
    errors = errors or {}
    return render(request, "settings/show.html", {
        "settings": figures(settings), "source_yaml": source, "errors": errors, "problem": problem,
        "error_lines": {field: line_of(source, field) for field in errors},
        "changed": request.query_params.get("changed", ""),
    }, status_code=status_code)


async def settings_page(request: Request) -> Response:
    settings = await _settings(request)
    return _page(request, settings, source=settings.source_yaml or STARTER)


async def save(request: Request) -> Response:
    workspace = workspace_of(request)
    data = await request.form()
    source = form_text(data.get("source_yaml"))
    current = await _settings(request)

    def again(**context) -> Response:
        return _page(request, current, source=source, status_code=400, **context)

    if not source.strip():
        return again(errors={"source_yaml": "the settings file is empty"}, problem="Nothing was saved.")
    if len(source.encode()) > MAX_FILE_BYTES:
        return again(errors={"source_yaml": f"is larger than {MAX_FILE_BYTES // 1024} KB"}, problem="Nothing was saved.")
    try:
        applied = await rpc(backend(request), "ApplySettings", campaign_pb2.ApplySettingsRequest(
            workspace_id=workspace, source_yaml=source, file_name=CONSOLE_FILE_NAME))
    except Refused as refusal:
        return again(errors=refusal.fields or {"source_yaml": refusal.details},
                     problem="Nothing was saved: the file has errors, each below by its path in the file.")
    shown = figures(applied)
    note = ("saved" if applied.changed else "unchanged") + (
        f": {len(shown['caps'])} frequency cap(s), "
        + (f"quiet hours {shown['quiet_hours']['start']}-{shown['quiet_hours']['end']}" if shown["quiet_hours"] else "no quiet hours")
        + f", global control {shown['global_control']}")
    return RedirectResponse(link("/settings", workspace, changed=note), status_code=303)


routes = [
    Route("/settings", settings_page, methods=["GET"], name="settings"),
    Route("/settings", save, methods=["POST"]),
]
