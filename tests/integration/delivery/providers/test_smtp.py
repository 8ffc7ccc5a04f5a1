"""SmtpProvider against a real aiosmtpd server: the message on the wire, connection reuse,
STARTTLS + AUTH, and how SMTP answers are classified."""

from __future__ import annotations

import asyncio
import socket

import pytest
from herald_services.delivery.providers.base import Address, Message
from herald_services.delivery.providers.smtp import SmtpProvider

from tests.fakes import SmtpSink

SENDER = "Herald <news@herald.example>"


def email_message(send_id: str = "send-1", **fields) -> Message:
    return Message(send_id=send_id, channel="email", subject=fields.pop("subject", "Hello"),
                   body=fields.pop("body", "Plain text"), **fields)


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


async def test_sends_text_and_html_with_herald_headers(sink):
    provider = SmtpProvider(host=sink.host, port=sink.port, sender=SENDER)
    try:
        attempt = await provider.send(
            email_message("send-42", subject="Your cart", body="Come back", html="<p>Come back</p>"),
            Address("email", "ada@example.com"),
        )
    finally:
        await provider.close()
    assert attempt.outcome == "accepted", attempt
    [mail] = sink.messages
    assert mail.mail_from == "news@herald.example"
    assert mail.rcpt_tos == ["ada@example.com"]
    received = mail.email
    assert received["Subject"] == "Your cart"
    assert received["To"] == "ada@example.com"
    assert received["From"] == SENDER
    assert received["Message-ID"] == "<send-42@herald.example>"
    assert received["X-Herald-Send-Id"] == "send-42"
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content().strip() == "Come back"
    assert received.get_body(("html",)).get_content().strip() == "<p>Come back</p>"
    assert not mail.tls and mail.login is None


async def test_text_only_message_is_single_part(sink):
    provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example")
    try:
        assert (await provider.send(email_message(), Address("email", "bo@example.com"))).accepted
    finally:
        await provider.close()
    assert sink.messages[0].email.get_content_type() == "text/plain"


async def test_one_connection_is_reused_across_sends(sink):
    provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example")
    try:
        for n in range(5):
            assert (await provider.send(email_message(f"s{n}"), Address("email", f"u{n}@example.com"))).accepted
    finally:
        await provider.close()
    assert len(sink.messages) == 5
    assert sink.connections == 1
    assert {mail.connection for mail in sink.messages} == {1}


async def test_concurrent_sends_use_at_most_the_pool_size(sink):
    provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example", pool_size=2)
    try:
        attempts = await asyncio.gather(
            *(provider.send(email_message(f"s{n}"), Address("email", f"u{n}@example.com")) for n in range(12))
        )
    finally:
        await provider.close()
    assert all(a.accepted for a in attempts)
    assert len(sink.messages) == 12
    assert sink.connections == 2


async def test_a_dropped_connection_is_reopened(sink):
    provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example", idle_check_seconds=0)
    try:
        assert (await provider.send(email_message("a"), Address("email", "a@example.com"))).accepted
        sink.drop_connections()
        assert (await provider.send(email_message("b"), Address("email", "b@example.com"))).accepted
    finally:
        await provider.close()
    assert [m.rcpt_tos for m in sink.messages] == [["a@example.com"], ["b@example.com"]]
    assert sink.connections == 2


async def test_refused_recipient_5xx_is_permanent_and_4xx_retries(sink):
    sink.refuse("nobody@example.com", 550, "5.1.1 <nobody@example.com>: user unknown")
    sink.refuse("full@example.com", 452, "4.2.2 mailbox full")
    provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example")
    try:
        gone = await provider.send(email_message("a"), Address("email", "nobody@example.com"))
        later = await provider.send(email_message("b"), Address("email", "full@example.com"))
        fine = await provider.send(email_message("c"), Address("email", "ok@example.com"))
    finally:
        await provider.close()
    assert gone.outcome == "permanent" and "550" in gone.detail and "user unknown" in gone.detail
    assert later.outcome == "retry" and "452" in later.detail
    assert fine.accepted
    # The refusals left the connection usable: one connection for all three.
    assert sink.connections == 1 and len(sink.messages) == 1


async def test_unreachable_server_retries():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = SmtpProvider(host="127.0.0.1", port=port, sender="news@herald.example", timeout=2)
    try:
        attempt = await provider.send(email_message(), Address("email", "a@example.com"))
    finally:
        await provider.close()
    assert attempt.outcome == "retry" and "connection" in attempt.detail


async def test_non_email_address_is_permanent(sink):
    provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example")
    try:
        attempt = await provider.send(email_message(), Address("phone", "+14155552671"))
        header_injection = await provider.send(email_message(subject="a\r\nBcc: x@y"), Address("email", "a@example.com"))
    finally:
        await provider.close()
    assert attempt.outcome == "permanent"
    assert header_injection.outcome == "permanent"
    assert sink.connections == 0


async def test_starttls_and_login():
    with SmtpSink(starttls=True, users={"herald": "correct-horse"}, require_auth=True) as sink:
        provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example",
                                user="herald", password="correct-horse", starttls=True,
                                tls_context=sink.client_tls_context())
        try:
            first = await provider.send(email_message("a"), Address("email", "a@example.com"))
            second = await provider.send(email_message("b"), Address("email", "b@example.com"))
        finally:
            await provider.close()
        assert first.accepted and second.accepted, (first, second)
        assert [(m.tls, m.login) for m in sink.messages] == [(True, "herald"), (True, "herald")]
        assert sink.connections == 1


async def test_wrong_password_retries_and_says_login_refused():
    with SmtpSink(starttls=True, users={"herald": "correct-horse"}, require_auth=True) as sink:
        provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example",
                                user="herald", password="wrong-horse", starttls=True,
                                tls_context=sink.client_tls_context())
        try:
            attempt = await provider.send(email_message(), Address("email", "a@example.com"))
        finally:
            await provider.close()
        assert attempt.outcome == "retry" and "login refused" in attempt.detail
        assert sink.messages == [] and sink.auth_failures >= 1


async def test_untrusted_certificate_is_a_retry_not_a_plaintext_send():
    with SmtpSink(starttls=True, users={"herald": "correct-horse"}) as sink:
        provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example",
                                user="herald", password="correct-horse", starttls=True)
        try:
            attempt = await provider.send(email_message(), Address("email", "a@example.com"))
        finally:
            await provider.close()
        assert attempt.outcome == "retry"
        assert sink.messages == []


async def test_implicit_tls_smtps_and_login():
    with SmtpSink(implicit_tls=True, users={"herald": "correct-horse"}, require_auth=True) as sink:
        provider = SmtpProvider(host=sink.host, port=sink.port, sender="news@herald.example",
                                user="herald", password="correct-horse", implicit_tls=True,
                                tls_context=sink.client_tls_context())
        try:
            attempt = await provider.send(email_message(), Address("email", "a@example.com"))
        finally:
            await provider.close()
        assert attempt.accepted, attempt
        assert [(m.tls, m.login) for m in sink.messages] == [(True, "herald")]


def test_port_465_means_implicit_tls_unless_told_otherwise():
    assert SmtpProvider(host="h", port=465, sender="a@b.c").implicit_tls
    assert not SmtpProvider(host="h", port=587, sender="a@b.c", starttls=True).implicit_tls
    assert not SmtpProvider(host="h", port=25, sender="a@b.c").implicit_tls


def test_the_fast_rendering_reads_back_as_the_same_email():
    from email import message_from_bytes
    from email import policy as email_policy

    from herald_services.delivery.providers.base import Message as HeraldMessage
    from herald_services.delivery.providers.smtp import render_email

    cases = [
        HeraldMessage(send_id="s-1", channel="email", subject="Plain subject", body="Hello\nthere"),
        HeraldMessage(send_id="s-2", channel="email", subject="Grüße, 10 % für Sie 🎉 " + "x" * 120,
                      body="Hallo Jürgen,\n" + "ä" * 300 + "\n.\nEnde", html="<p>Grüße</p>"),
    ]
    for message in cases:
        raw = render_email(message, "Herald <herald@example.com>", "user@example.com")
        assert b"\r\n\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
        parsed = message_from_bytes(raw, policy=email_policy.default)
        assert parsed["Subject"] == message.subject
        assert parsed["To"] == "user@example.com" and parsed["X-Herald-Send-Id"] == message.send_id
        assert parsed["Message-ID"] == f"<{message.send_id}@example.com>"
        assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == message.body
        if message.html:
            assert parsed.get_body(("html",)).get_content().strip() == message.html
