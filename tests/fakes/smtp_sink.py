"""An SMTP server that keeps what it receives: aiosmtpd's Controller on 127.0.0.1 and a free
port, optionally with STARTTLS (a self-signed certificate made here) and AUTH LOGIN/PLAIN.

    with SmtpSink(starttls=True, users={"herald": "s3cret-pw"}) as sink:
        ...  # HERALD_SMTP_HOST=127.0.0.1, HERALD_SMTP_PORT=sink.port; trust sink.client_tls_context()
        assert sink.messages[0].email["Subject"] == "Hello" and sink.connections == 1
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import warnings
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from .tls import SelfSigned, self_signed


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    email: EmailMessage
    connection: int  # which TCP connection (1, 2, ...) carried it
    tls: bool
    login: str | None


class _SinkSMTP(SMTP):
    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink
        self.number = 0
        self.closed = asyncio.Event()

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.closed.set()


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.sink.refusals.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        login = session.auth_data if session.authenticated and isinstance(session.auth_data, str) else None
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), content, parsed,
                            getattr(server, "number", 0), tls, login)
        with self.sink.lock:
            self.sink.messages.append(mail)
        return "250 2.0.0 Message accepted for delivery"


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:
        # Called once per accepted connection, before the protocol starts.
        with warnings.catch_warnings():
            if self.ssl_context is not None:  # SMTPS: aiosmtpd's "AUTH without TLS" is a false alarm
                warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            server = _SinkSMTP(self.sink, self.handler, **self.SMTP_kwargs)
        server.number = self.sink._connected(server)
        return server

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0,
                                                ssl=self.ssl_context)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self):
        return self._bind()


class SmtpSink:
    """``starttls``: offer STARTTLS (and insist on it before AUTH); ``implicit_tls``: TLS from
    the first byte (SMTPS); ``users``: offer AUTH LOGIN/PLAIN with these logins and passwords
    (``require_auth`` refuses mail without it)."""

    def __init__(self, *, starttls: bool = False, implicit_tls: bool = False,
                 users: dict[str, str] | None = None, require_auth: bool = False) -> None:
        self.lock = threading.Lock()
        self.messages: list[ReceivedMail] = []
        self.refusals: dict[str, str] = {}
        self.auth_failures = 0
        self.users = users
        self.certificate: SelfSigned | None = self_signed() if starttls or implicit_tls else None
        self._live: list[_SinkSMTP] = []
        self._count = 0
        self._counting = False
        kwargs: dict[str, Any] = {}
        if starttls and self.certificate is not None:
            kwargs["tls_context"] = self.certificate.server_context()
            kwargs["require_starttls"] = True
        if implicit_tls and self.certificate is not None:
            kwargs["ssl_context"] = self.certificate.server_context()
        if users is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = require_auth
            # aiosmtpd only counts STARTTLS as TLS here; an SMTPS connection is TLS throughout.
            kwargs["auth_require_tls"] = starttls
        self._controller = _Controller(self, _Handler(self), hostname="127.0.0.1", **kwargs)

    # -- scripting ------------------------------------------------------------------------------
    def refuse(self, recipient: str, code: int = 550, text: str = "5.1.1 mailbox unavailable") -> None:
        """RCPT TO ``recipient`` answers ``code text`` (5xx: permanent, 4xx: try later)."""
        self.refusals[recipient] = f"{code} {text}"

    def drop_connections(self) -> None:
        """Closes every open client connection, as a server's idle timeout would; returns once
        they are closed."""
        async def drop() -> None:
            live = list(self._live)
            for server in live:
                if server.transport is not None:
                    server.transport.close()
            for server in live:
                await server.closed.wait()

        asyncio.run_coroutine_threadsafe(drop(), self._controller.loop).result(timeout=10)

    # -- what it saw ----------------------------------------------------------------------------
    @property
    def connections(self) -> int:
        """Client connections accepted since start()."""
        return self._count

    def client_tls_context(self):
        """An SSL context that trusts this sink's certificate (None without TLS)."""
        return self.certificate.client_context() if self.certificate else None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Self:
        self._controller.start()
        # The controller's own readiness probe (already accepted) is not a client.
        self._counting = True
        self._count = 0
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    # -- internals ------------------------------------------------------------------------------
    def _connected(self, server: _SinkSMTP) -> int:
        self._live = [s for s in self._live if not s.closed.is_set()] + [server]
        if self._counting:
            self._count += 1
        return self._count

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert self.users is not None
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        self.auth_failures += 1
        return AuthResult(success=False, handled=False)
