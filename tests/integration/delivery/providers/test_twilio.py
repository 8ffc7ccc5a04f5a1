"""TwilioProvider against the local Twilio stand-in: Messages and Calls on the wire, Basic
auth, and the classification of Twilio's answers."""

from __future__ import annotations

import base64
import socket
from urllib.parse import parse_qs

import pytest
from herald_services.delivery.providers.base import Address, Message
from herald_services.delivery.providers.twilio import TwilioProvider

from tests.fakes import TwilioServer

SID = "AC" + "a" * 32
TOKEN = "twilio-auth-token-1"
FROM = "+15005550006"
TO = "+14155552671"


@pytest.fixture
def twilio():
    with TwilioServer(account_sid=SID, auth_token=TOKEN) as server:
        yield server


@pytest.fixture
async def provider(twilio):
    provider = TwilioProvider(SID, TOKEN, FROM, base_url=twilio.url)
    yield provider
    await provider.close()


def sms(body: str = "Your code is 1234") -> Message:
    return Message(send_id="send-1", channel="sms", body=body)


async def test_sms_posts_the_messages_resource(twilio, provider):
    attempt = await provider.send(sms(), Address("phone", TO))
    assert attempt.outcome == "accepted" and attempt.detail.startswith("SM")
    [request] = twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert parse_qs(request.body.decode()) == {"To": [TO], "From": [FROM], "Body": ["Your code is 1234"]}
    assert twilio.messages == [{"To": TO, "From": FROM, "Body": "Your code is 1234"}]


async def test_voice_posts_the_calls_resource_with_escaped_twiml(twilio, provider):
    message = Message(send_id="send-2", channel="voice", body="Tom & Jerry <3")
    attempt = await provider.send(message, Address("phone", TO))
    assert attempt.outcome == "accepted" and attempt.detail.startswith("CA")
    assert twilio.requests[0].path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert twilio.calls == [
        {"To": TO, "From": FROM, "Twiml": "<Response><Say>Tom &amp; Jerry &lt;3</Say></Response>"}
    ]


async def test_messaging_service_sid_is_sent_as_such(twilio):
    service = "MG" + "b" * 32
    provider = TwilioProvider(SID, TOKEN, service, base_url=twilio.url)
    try:
        assert (await provider.send(sms(), Address("phone", TO))).accepted
    finally:
        await provider.close()
    assert twilio.messages == [{"To": TO, "MessagingServiceSid": service, "Body": "Your code is 1234"}]


async def test_invalid_number_is_permanent_with_twilios_message(twilio, provider):
    twilio.invalid_number("+1555")
    attempt = await provider.send(sms(), Address("phone", "+1555"))
    assert attempt.outcome == "permanent"
    assert "Invalid 'To' Phone Number" in attempt.detail and "21211" in attempt.detail
    assert twilio.messages == []


async def test_unsubscribed_recipient_21610_is_permanent(twilio, provider):
    twilio.respond_for(TO, 400, code=21610, message="Attempt to send to unsubscribed recipient")
    attempt = await provider.send(sms(), Address("phone", TO))
    assert attempt.outcome == "permanent" and "unsubscribed" in attempt.detail


async def test_429_retries_after_what_twilio_said(twilio, provider):
    twilio.respond_for(TO, 429, code=20429, message="Too Many Requests", retry_after="7", times=1)
    first = await provider.send(sms(), Address("phone", TO))
    second = await provider.send(sms(), Address("phone", TO))
    assert first.outcome == "retry" and first.retry_after == 7.0 and "Too Many Requests" in first.detail
    assert second.accepted  # the scripted answer was for one request only
    assert len(twilio.messages) == 1


async def test_500_and_503_retry(twilio, provider):
    twilio.respond_for(TO, 500, code=20500, message="Internal Server Error")
    twilio.respond_for("+14155550000", 503, message="Service Unavailable", retry_after="120")
    failed = await provider.send(sms(), Address("phone", TO))
    unavailable = await provider.send(sms(), Address("phone", "+14155550000"))
    assert failed.outcome == "retry" and failed.retry_after is None
    assert unavailable.outcome == "retry" and unavailable.retry_after == 120.0


async def test_wrong_credentials_are_permanent(twilio):
    provider = TwilioProvider(SID, "not-the-token", FROM, base_url=twilio.url)
    try:
        attempt = await provider.send(sms(), Address("phone", TO))
    finally:
        await provider.close()
    assert attempt.outcome == "permanent" and "401" in attempt.detail and "Authenticate" in attempt.detail


async def test_unreachable_twilio_retries():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = TwilioProvider(SID, TOKEN, FROM, base_url=f"http://127.0.0.1:{port}", timeout=2)
    try:
        attempt = await provider.send(sms(), Address("phone", TO))
    finally:
        await provider.close()
    assert attempt.outcome == "retry" and "connection" in attempt.detail


async def test_other_channels_and_addresses_are_refused(twilio, provider):
    email = await provider.send(Message(send_id="x", channel="email", body="b"), Address("phone", TO))
    to_email = await provider.send(sms(), Address("email", "a@example.com"))
    assert email.outcome == "permanent" and to_email.outcome == "permanent"
    assert twilio.requests == []
