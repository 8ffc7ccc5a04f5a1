"""What every page shares: the templates, the workspace a request is about, links that keep it.

A page is one route function in its module under `pages/`; it calls the services through
`backend(request)` and hands a template plain data through `render(...)`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from herald_services.console.auth import csrf_token, is_signed_in
from herald_services.console.backend import Backend

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
DEFAULT_WORKSPACE = "default"
_WORKSPACE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# The navigation, in order: (label, path). Pages of other modules add theirs to the list in app.py.
NAV: list[tuple[str, str]] = [
    ("Events", "/events"),
    ("Campaigns", "/campaigns"),
    ("Users", "/users"),
    ("Sends", "/sends"),
    ("Settings", "/settings"),
]


def make_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = format_time
    environment.filters["count"] = format_count
    environment.globals["nav"] = NAV
    return environment


def form_text(value: Any) -> str:
    """A textarea's text: a browser sends its line breaks as CRLF; a file is kept with the LF it
    was typed with."""
    return str(value or "").replace("\r\n", "\n").replace("\r", "\n")


def backend(request: Request) -> Backend:
    return request.app.state.backend


def workspace_of(request: Request) -> str:
    """The workspace a request is about: `?workspace=ID` (or a form's `workspace`), else the default."""
    value = request.query_params.get("workspace") or DEFAULT_WORKSPACE
    return value if _WORKSPACE_ID.match(value) else DEFAULT_WORKSPACE


def link(path: str, workspace: str = DEFAULT_WORKSPACE, **query: Any) -> str:
    """A path with its query, keeping `?workspace=` when it is not the default one."""
    params = {k: v for k, v in query.items() if v not in (None, "", False)}
    if workspace != DEFAULT_WORKSPACE:
        params = {"workspace": workspace, **params}
    return path + ("?" + urlencode(params, doseq=True) if params else "")


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    workspace = workspace_of(request)
    environment: Environment = request.app.state.templates
    has_session = "session" in request.scope  # not for a failure outside the session middleware
    base = {
        "request": request,
        "csrf_token": csrf_token(request) if has_session else "",
        "signed_in": is_signed_in(request) if has_session else False,
        "workspace": workspace,
        "workspaces": getattr(request.state, "workspaces", []),
        "current_path": request.url.path,
        "link": lambda path, **query: link(path, workspace, **query),
        "htmx": bool(request.headers.get("hx-request")),
    }
    html = environment.get_template(template).render({**base, **context})
    return HTMLResponse(html, status_code=status_code)


def format_time(value: datetime | str | None) -> str:
    """A time as a person reads it: 2026-12-03 09:41 UTC."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
