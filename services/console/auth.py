"""Signing in to the console: the admin token, the session cookie, CSRF on every form.

- The admin token is the one secret: whoever has it may manage herald (it is the token the
  services ask of every management call, herald_common.access.admin_token). The sign-in form posts
  it as `token`; a wrong one is refused with a clear message after a delay, and failed attempts
  wait their turn one after another, so guessing costs at least `FAILED_SIGN_IN_DELAY_SECONDS`
  per guess however many are sent at once (the right token never waits).
- The session is Starlette's SessionMiddleware: an itsdangerous-signed cookie, HttpOnly,
  SameSite=Lax, Secure when HERALD_CONSOLE_SECURE_COOKIE is set, valid for 12 hours. Its
  signing key is derived from the admin token, so replicas agree on it without another
  secret, and changing the token signs everyone out.
- Every form carries `csrf_token` (htmx sends it as `X-CSRF-Token`): a per-session random value,
  checked by `CsrfMiddleware` on every POST before any page sees it.
- Every page except /login, /health and /static needs a session (`SignInRequired`); without
  one a page redirects to /login (htmx requests get `HX-Redirect`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from herald_common.logs import get_logger
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = get_logger(__name__)

SESSION_COOKIE = "herald_console"
SESSION_MAX_AGE_SECONDS = 12 * 3600
FAILED_SIGN_IN_DELAY_SECONDS = 1.0
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
OPEN_PATHS = ("/login", "/health")
OPEN_PREFIXES = ("/static/",)
_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def session_secret(token: str) -> str:
    """The cookie's signing key: derived from the admin token (see the module's docstring)."""
    return hmac.new(token.encode(), b"herald console session v1", hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the sign-in form has one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def is_signed_in(request: Request) -> bool:
    return bool(request.session.get("signed_in"))


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this console only, never another site."""
    if not target:
        return "/events"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/events"
    return target


class SignInRequired:
    """ASGI middleware: without a session, a page answers with a redirect to /login."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_open(scope["path"]) or scope.get("session", {}).get("signed_in"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/login?next={quote(target, safe='/')}"
        if request.headers.get("hx-request"):
            response: Response = PlainTextResponse("sign in first", status_code=401, headers={"HX-Redirect": login})
        else:
            response = RedirectResponse(login, status_code=303)
        await response(scope, receive, send)


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class CsrfMiddleware:
    """ASGI middleware: a POST (PUT, PATCH, DELETE) must carry the session's CSRF token, in the
    `X-CSRF-Token` header or the `csrf_token` form field. The body is read once here and handed
    on unchanged, so pages read their forms as usual."""

    def __init__(self, app: ASGIApp, *, refused: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replayer(body)
        request = Request(scope, replay)
        expected = scope.get("session", {}).get("csrf")
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            try:
                form = await request.form()
                given = form.get(CSRF_FIELD)
                await form.close()
            except Exception:  # a body that is not a form carries no token
                given = None
        if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
            log.warning("console_csrf_refused", path=scope["path"])
            response = await self.refused(Request(scope, _replayer(b"")))
            await response(scope, receive, send)
            return
        await self.app(scope, _replayer(body), send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replayer(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # like a client that sent everything and waits
        raise AssertionError("unreachable")

    return receive


class SignIn:
    """The /login and /logout pages."""

    def __init__(
        self,
        *,
        token: str,
        render: Callable[..., Response],
        delay_seconds: float = FAILED_SIGN_IN_DELAY_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._token = token.encode()
        self._render = render
        self.delay_seconds = delay_seconds
        self._sleep = sleep
        self._failures = asyncio.Lock()

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login_form, methods=["GET"], name="login"),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout_form, methods=["GET"], name="logout"),
            Route("/logout", self.logout, methods=["POST"]),
        ]

    async def login_form(self, request: Request) -> Response:
        if is_signed_in(request):
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        return self._render(request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": None})

    async def login(self, request: Request) -> Response:
        form = await request.form()
        given = str(form.get("token", "")).strip()
        target = safe_next(str(form.get("next", "")))
        if given and hmac.compare_digest(given.encode(), self._token):
            request.session.clear()
            request.session.update({"signed_in": True, "csrf": secrets.token_urlsafe(24)})
            log.info("console_signed_in", client=request.client.host if request.client else None)
            return RedirectResponse(target, status_code=303)
        async with self._failures:
            await self._sleep(self.delay_seconds)
        log.warning("console_sign_in_refused", client=request.client.host if request.client else None)
        error = (
            "Enter the admin token." if not given else
            "That is not the admin token. Copy it again from where `herald up` said it is kept "
            "(HERALD_ADMIN_TOKEN, or the admin_token file in the data folder)."
        )
        return self._render(request, "login.html", {"next": target, "error": error}, status_code=401)

    async def logout_form(self, request: Request) -> Response:
        return self._render(request, "logout.html", {})

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
