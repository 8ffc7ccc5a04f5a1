"""Email over SMTP (aiosmtplib): a small pool of long-lived connections, each opened once (with
STARTTLS and AUTH when configured) and reused for many messages; a dropped one is reopened."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import functools
import hashlib
import quopri
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from .base import Address, Attempt, Message

DEFAULT_POOL_SIZE = 16
# A connection idle this long is checked with NOOP before use: servers drop idle clients.
IDLE_CHECK_SECONDS = 10.0


def message_id(send_id: str, domain: str) -> str:
    """``<send_id@domain>``, with characters a msg-id cannot carry replaced."""
    local = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]", "-", send_id).strip(".") or "send"
    return f"<{local}@{domain}>"


def build_email(message: Message, sender: str, recipient: str) -> EmailMessage:
    """Text body, plus an HTML alternative when the message has one."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id(message.send_id, _domain(sender))
    email["X-Herald-Send-Id"] = message.send_id
    email.set_content(message.body or "")
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


def _ascii(text: str) -> bool:
    return text.isascii()


def _header_text(value: str) -> str:
    """A header value: as is when it is plain ASCII, else RFC 2047 encoded words (folded)."""
    if "\r" in value or "\n" in value:
        raise ValueError("a header cannot contain a line break")
    if _ascii(value) and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def _part(content: str, subtype: str) -> bytes:
    body = content.replace("\r\n", "\n").replace("\n", "\r\n")
    if _ascii(body) and all(len(line) <= 900 for line in body.split("\r\n")):
        encoding, payload = "7bit", body.encode("ascii")
    else:
        encoding, payload = "quoted-printable", quopri.encodestring(body.encode("utf-8")).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    charset = "us-ascii" if encoding == "7bit" else "utf-8"
    head = f"Content-Type: text/{subtype}; charset=\"{charset}\"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    return head.encode("ascii") + payload


def render_email(message: Message, sender: str, recipient: str) -> bytes:
    """The message as SMTP DATA (CRLF lines), written out directly: building it through
    email.message.EmailMessage cost ~2 ms a message, most of a send's CPU. ASCII addresses
    only (render it with build_email otherwise)."""
    headers = [
        f"From: {_header_text(sender)}",
        f"To: {_header_text(recipient)}",
        f"Subject: {_header_text(message.subject or '')}",
        f"Date: {formatdate(localtime=False, usegmt=True)}",
        f"Message-ID: {message_id(message.send_id, _domain(sender))}",
        f"X-Herald-Send-Id: {_header_text(message.send_id)}",
        "MIME-Version: 1.0",
    ]
    text = _part(message.body or "", "plain")
    if not message.html:
        return ("\r\n".join(headers) + "\r\n").encode("ascii") + text
    boundary = "=_herald_" + hashlib.sha1(message.send_id.encode()).hexdigest()[:24]
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    marker = f"--{boundary}\r\n".encode()
    return (
        ("\r\n".join(headers) + "\r\n\r\n").encode("ascii")
        + marker + text + b"\r\n"
        + marker + _part(message.html, "html") + b"\r\n"
        + f"--{boundary}--\r\n".encode()
    )


@functools.lru_cache(maxsize=64)
def _domain(address: str) -> str:
    """The domain of the (configured, so few) sender address; parsed once, not per message."""
    bare = parseaddr(address)[1]
    return bare.rsplit("@", 1)[-1] if "@" in bare else "herald.local"


class _Connection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.last_used = 0.0


class SmtpProvider:
    """5xx answers are permanent, 4xx answers and connection failures retry."""

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        sender: str,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        implicit_tls: bool | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
        idle_check_seconds: float = IDLE_CHECK_SECONDS,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.envelope_sender = parseaddr(sender)[1] or sender
        self.user, self.password = user, password
        self.starttls = starttls
        # SMTPS (TLS from the first byte): by default on port 465, as RFC 8314 assigns it.
        self.implicit_tls = (port == 465 and not starttls) if implicit_tls is None else implicit_tls
        self.timeout = timeout
        self.tls_context = tls_context
        self.idle_check_seconds = idle_check_seconds
        self.pool_size = max(1, pool_size)
        self._idle: list[_Connection] = []
        self._open = 0  # connections in the pool, idle or in use
        self._available = asyncio.Condition()
        self.connections_opened = 0
        self._closed = False

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.user or None,
            password=self.password if self.user else None,
            use_tls=self.implicit_tls,
            start_tls=bool(self.starttls),
            tls_context=self.tls_context,
            local_hostname=_domain(self.sender),
            timeout=self.timeout,
        )

    async def _acquire(self) -> _Connection:
        async with self._available:
            while not self._idle and self._open >= self.pool_size:
                await self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        return _Connection(self._new_client())

    async def _release(self, connection: _Connection, *, broken: bool) -> None:
        broken = broken or self._closed  # a send that outlived close() closes its connection
        if broken:
            await _quietly_close(connection.client)
        async with self._available:
            if broken:
                self._open -= 1
            else:
                connection.last_used = time.monotonic()
                self._idle.append(connection)
            self._available.notify()

    async def _ready(self, connection: _Connection) -> None:
        """Connects (STARTTLS, AUTH) a new or dropped connection; NOOPs an idle one."""
        client = connection.client
        if client.is_connected and time.monotonic() - connection.last_used >= self.idle_check_seconds:
            try:
                await client.noop()
            except (aiosmtplib.SMTPException, OSError):
                await _quietly_close(client)
        if not client.is_connected:
            client.close()
            await client.connect()
            self.connections_opened += 1

    async def send(self, message: Message, address: Address) -> Attempt:
        if address.kind != "email":
            return Attempt("permanent", f"smtp sends to email addresses, not {address.kind}")
        fast = _ascii(address.value) and _ascii(self.sender) and "@" in address.value and "<" not in address.value
        try:
            email = render_email(message, self.sender, address.value) if fast else build_email(message, self.sender, address.value)
        except ValueError as error:  # e.g. a line break in the subject or the address
            return Attempt("permanent", f"cannot build the email: {error}")
        connection = await self._acquire()
        broken = True
        try:
            try:
                await self._ready(connection)
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
                # Connecting, STARTTLS or AUTH failed: nothing about this message; try later.
                return Attempt("retry", _connect_failure(error))
            if fast:
                _, reply = await connection.client.sendmail(self.envelope_sender, [address.value], email)
                accepted_as = message_id(message.send_id, _domain(self.sender))
            else:
                _, reply = await connection.client.send_message(
                    email, sender=self.envelope_sender, recipients=[address.value]
                )
                accepted_as = email["Message-ID"]
            broken = False
            return Attempt("accepted", reply.strip() or accepted_as)
        except aiosmtplib.SMTPRecipientsRefused as error:
            broken = False
            refused = error.recipients[0]
            return _by_code(refused.code, f"recipient refused: {refused.message}")
        except aiosmtplib.SMTPSenderRefused as error:
            broken = False
            return _by_code(error.code, f"sender {self.sender} refused: {error.message}")
        except aiosmtplib.SMTPNotSupported as error:  # e.g. a UTF-8 address, no SMTPUTF8
            broken = False
            return Attempt("permanent", f"{address.value!r}: {error}")
        except aiosmtplib.SMTPResponseException as error:
            broken = not connection.client.is_connected
            return _by_code(error.code, error.message)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            return Attempt("retry", _connect_failure(error))
        except ValueError as error:  # an address aiosmtplib cannot put in an envelope
            broken = False
            return Attempt("permanent", f"bad address {address.value!r}: {error}")
        finally:
            await self._release(connection, broken=broken)

    async def close(self) -> None:
        self._closed = True
        async with self._available:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for connection in idle:
            await _quietly_close(connection.client, polite=True)


def _connect_failure(error: Exception) -> str:
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        # Refused credentials are the operator's to fix; the message itself is fine.
        return f"smtp login refused: {error.code} {error.message}"
    return f"smtp connection failed: {type(error).__name__}: {error}"


def _by_code(code: int, text: str) -> Attempt:
    detail = f"{code} {text}".strip()
    return Attempt("permanent" if 500 <= code < 600 else "retry", detail)


async def _quietly_close(client: aiosmtplib.SMTP, *, polite: bool = False) -> None:
    try:
        if polite and client.is_connected:
            await client.quit()
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        pass
    client.close()
