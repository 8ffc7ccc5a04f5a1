"""The console's ASGI app: the page modules' routes, sign-in, the session, CSRF, error pages.

Each page module under `pages/` keeps its routes in a module-level `routes` list; PAGES names
those modules, and nothing else registers a page.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Awaitable, Callable

from herald_common.logs import get_logger
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from herald_services.console import auth
from herald_services.console.backend import Backend, NotFound, Refused, ServiceDown, ServiceFailed
from herald_services.console.web import STATIC, make_environment, render

log = get_logger(__name__)

# The page modules, in navigation order: herald_services.console.pages.<name>.routes
PAGES = ["events", "campaigns", "users", "sends", "settings"]

WORKSPACES_CACHE_SECONDS = 30.0


def page_routes() -> list[Route]:
    routes: list[Route] = []
    for name in PAGES:
        module = importlib.import_module(f"herald_services.console.pages.{name}")
        routes.extend(module.routes)
    return routes


def build_app(
    *,
    backend: Backend,
    admin_token: str,
    secure_cookie: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Starlette:
    sign_in = auth.SignIn(token=admin_token, render=render, sleep=sleep)
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        *sign_in.routes(),
        *page_routes(),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=auth.session_secret(admin_token),
            session_cookie=auth.SESSION_COOKIE,
            max_age=auth.SESSION_MAX_AGE_SECONDS,
            same_site="lax",
            https_only=secure_cookie,
        ),
        Middleware(SecurityHeaders),
        Middleware(auth.SignInRequired),
        Middleware(auth.CsrfMiddleware, refused=csrf_refused),
        Middleware(WorkspaceList),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ServiceDown: service_down,
            NotFound: not_found,
            Refused: refused,
            ServiceFailed: service_failed,
            HTTPException: http_error,
            Exception: unexpected,
        },
    )
    app.state.backend = backend
    app.state.templates = make_environment()
    app.state.sign_in = sign_in
    app.state.workspaces_cache = (0.0, [])
    return app


async def home(request: Request) -> Response:
    return RedirectResponse("/events" + (f"?{request.url.query}" if request.url.query else ""), status_code=303)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "serving"})


class SecurityHeaders:
    """No framing, no sniffing, no referrer leaking ids, scripts only from this console."""

    HEADERS = [
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (
            b"content-security-policy",
            b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


class WorkspaceList:
    """For signed-in pages: the workspaces for the switcher, asked of identity at most every 30 s.
    A failure leaves the list empty (the page itself says if identity is down)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("session", {}).get("signed_in"):
            app = scope["app"]
            fetched_at, workspaces = app.state.workspaces_cache
            now = time.monotonic()
            if now - fetched_at > WORKSPACES_CACHE_SECONDS:
                try:
                    workspaces = await app.state.backend.workspaces()
                    app.state.workspaces_cache = (now, workspaces)
                except Exception as error:  # the page's own calls report a down service
                    log.info("console_workspaces_unavailable", reason=str(error))
                    workspaces = []
            scope.setdefault("state", {})["workspaces"] = workspaces
        await self.app(scope, receive, send)


# ---- error pages ------------------------------------------------------------------------


async def service_down(request: Request, error: ServiceDown) -> Response:
    log.warning("console_service_down", service=error.service, address=error.address, reason=error.reason)
    return render(request, "error.html", {
        "title": f"{error.service} is not answering",
        "message": f"The console could not reach the {error.service} service at {error.address}: {error.reason}.",
        "hint": "Check that `herald up` is running (it restarts a service that stops), then reload this page.",
    }, status_code=503)


async def not_found(request: Request, error: NotFound) -> Response:
    return render(request, "error.html", {
        "title": f"Not found: {error.what}",
        "message": f"There is no {error.what} in this workspace.",
        "hint": error.detail,
    }, status_code=404)


async def refused(request: Request, error: Refused) -> Response:
    return render(request, "error.html", {
        "title": "Refused",
        "message": f"{error.service} refused this: {error.details}",
        "hint": "",
    }, status_code=400)


async def service_failed(request: Request, error: ServiceFailed) -> Response:
    log.error("console_service_failed", service=error.service, code=error.code.name, details=error.details)
    return render(request, "error.html", {
        "title": f"{error.service} failed",
        "message": f"The {error.service} service could not answer ({error.code.name.lower()}): {error.details}",
        "hint": "The service's log says more.",
    }, status_code=502)


async def http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 404:
        return render(request, "error.html", {
            "title": "No such page",
            "message": f"There is no page at {request.url.path}.",
            "hint": "",
        }, status_code=404)
    if error.status_code == 405:
        return render(request, "error.html", {
            "title": "Not allowed",
            "message": f"{request.method} is not how {request.url.path} is used.",
            "hint": "",
        }, status_code=405)
    return render(request, "error.html", {"title": "Error", "message": str(error.detail), "hint": ""},
                  status_code=error.status_code)


async def csrf_refused(request: Request) -> Response:
    return render(request, "error.html", {
        "title": "This form has expired",
        "message": "The form did not carry this session's security token (it was opened before you signed "
                   "in again, or it did not come from this console). Nothing was changed.",
        "hint": "Go back, reload the page and send the form again.",
    }, status_code=403)


async def unexpected(request: Request, error: Exception) -> Response:
    log.exception("console_page_failed", path=request.url.path)
    return render(request, "error.html", {
        "title": "Something went wrong",
        "message": "The console failed to draw this page; the error is in the console's log.",
        "hint": "",
    }, status_code=500)
