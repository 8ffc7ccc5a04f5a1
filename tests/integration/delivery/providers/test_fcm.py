"""FcmProvider against the local OAuth + FCM HTTP v1 stand-in: the service-account flow, the
access token's reuse and refresh, the message on the wire, and FCM's answers classified."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs

import jwt
import pytest
from herald_services.delivery.providers.base import Address, Message
from herald_services.delivery.providers.fcm import SCOPE, FcmProvider, ServiceAccount

from tests.fakes import FcmServer

DEVICE = "fcm-token-123:APA91b"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fcm():
    with FcmServer(project_id="shop-prod") as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def provider(fcm, clock):
    provider = FcmProvider(ServiceAccount.from_json(fcm.credentials()), base_url=fcm.url, clock=clock)
    yield provider
    await provider.close()


def push(send_id: str = "send-1", **fields) -> Message:
    return Message(send_id=send_id, channel="push", title=fields.pop("title", "Back in stock"),
                   body=fields.pop("body", "Your shoes are back"), **fields)


async def test_oauth_assertion_then_messages_send(fcm, provider, clock):
    attempt = await provider.send(push(data={"cart": "42", "count": 3, "tags": ["a"]}), Address("fcm", DEVICE))
    assert attempt.outcome == "accepted" and attempt.detail.startswith("projects/shop-prod/messages/")
    token_request, send_request = fcm.requests
    # The token request: a JWT-bearer grant whose RS256 assertion the server verified.
    assert token_request.path == "/token"
    form = parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assertion = form["assertion"][0]
    assert jwt.get_unverified_header(assertion)["alg"] == "RS256"
    assert jwt.get_unverified_header(assertion)["kid"] == fcm.private_key_id
    [claims] = fcm.assertions
    assert claims["iss"] == fcm.client_email and claims["aud"] == fcm.token_uri
    assert claims["scope"] == SCOPE and claims["iat"] == int(clock.now) and claims["exp"] == int(clock.now) + 3600
    # The send: bearer token, JSON body as FCM's HTTP v1 API has it (data values as strings).
    assert send_request.path == "/v1/projects/shop-prod/messages:send"
    assert send_request.headers["authorization"] == f"Bearer {fcm.issued[0]}"
    assert send_request.headers["content-type"] == "application/json"
    assert send_request.json() == {"message": {
        "token": DEVICE,
        "notification": {"title": "Back in stock", "body": "Your shoes are back"},
        "data": {"cart": "42", "count": "3", "tags": '["a"]'},
    }}


async def test_access_token_is_reused_across_sends(fcm, provider):
    for n in range(3):
        assert (await provider.send(push(f"s{n}"), Address("fcm", DEVICE))).accepted
    await asyncio.gather(*(provider.send(push(f"c{n}"), Address("fcm", DEVICE)) for n in range(5)))
    assert len(fcm.issued) == 1 and provider.tokens_fetched == 1
    assert set(fcm.used_tokens) == {fcm.issued[0]} and len(fcm.messages) == 8


async def test_concurrent_first_sends_fetch_one_token(fcm, provider):
    attempts = await asyncio.gather(*(provider.send(push(f"c{n}"), Address("fcm", DEVICE)) for n in range(6)))
    assert all(a.accepted for a in attempts) and len(fcm.issued) == 1


async def test_access_token_is_refreshed_shortly_before_it_expires(fcm, provider, clock):
    assert (await provider.send(push("a"), Address("fcm", DEVICE))).accepted
    clock.now += fcm.expires_in - 301  # still more than five minutes left: reused
    assert (await provider.send(push("b"), Address("fcm", DEVICE))).accepted
    assert len(fcm.issued) == 1
    clock.now += 2  # under five minutes left: a new one
    assert (await provider.send(push("c"), Address("fcm", DEVICE))).accepted
    assert len(fcm.issued) == 2
    assert fcm.used_tokens == [fcm.issued[0], fcm.issued[0], fcm.issued[1]]


async def test_refused_access_token_is_replaced_once(fcm, provider):
    assert (await provider.send(push("a"), Address("fcm", DEVICE))).accepted
    fcm.revoke_access_tokens()
    attempt = await provider.send(push("b"), Address("fcm", DEVICE))
    assert attempt.accepted, attempt
    assert len(fcm.issued) == 2 and fcm.used_tokens == fcm.issued


async def test_unregistered_token_is_gone(fcm, provider):
    fcm.mark_unregistered(DEVICE)
    attempt = await provider.send(push(), Address("fcm", DEVICE))
    assert attempt.outcome == "gone" and "UNREGISTERED" in attempt.detail and attempt.detail.startswith("404")


async def test_invalid_argument_is_permanent_with_the_reason(fcm, provider):
    fcm.respond_for(DEVICE, 400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
    attempt = await provider.send(push(), Address("fcm", DEVICE))
    assert attempt.outcome == "permanent"
    assert attempt.detail == "400 INVALID_ARGUMENT: The registration token is not a valid FCM registration token"


async def test_sender_id_mismatch_is_permanent(fcm, clock):
    provider = FcmProvider(ServiceAccount.from_json(fcm.credentials()), project_id="someone-else",
                           base_url=fcm.url, clock=clock)
    try:
        attempt = await provider.send(push(), Address("fcm", DEVICE))
    finally:
        await provider.close()
    assert attempt.outcome == "permanent" and "SENDER_ID_MISMATCH" in attempt.detail


async def test_quota_unavailable_and_internal_retry(fcm, provider):
    fcm.respond_for("quota", 429, "QUOTA_EXCEEDED", "Sending quota exceeded", retry_after="60", times=1)
    fcm.respond_for("down", 503, "UNAVAILABLE", "The server is overloaded", retry_after="15")
    fcm.respond_for("oops", 500, "INTERNAL", "Internal error")
    quota = await provider.send(push(), Address("fcm", "quota"))
    down = await provider.send(push(), Address("fcm", "down"))
    oops = await provider.send(push(), Address("fcm", "oops"))
    assert (quota.outcome, quota.retry_after) == ("retry", 60.0) and "QUOTA_EXCEEDED" in quota.detail
    assert (down.outcome, down.retry_after) == ("retry", 15.0)
    assert (oops.outcome, oops.retry_after) == ("retry", None)
    assert (await provider.send(push(), Address("fcm", "quota"))).accepted


async def test_refused_credentials_retry_and_say_so(fcm, clock):
    other = FcmServer()  # another service account's key, never started
    info = {**other.credentials(token_uri=fcm.token_uri), "client_email": fcm.client_email}
    provider = FcmProvider(ServiceAccount.from_json(info), project_id="shop-prod", base_url=fcm.url, clock=clock)
    try:
        attempt = await provider.send(push(), Address("fcm", DEVICE))
    finally:
        await provider.close()
    assert attempt.outcome == "retry" and "invalid_grant" in attempt.detail
    assert fcm.messages == []


async def test_service_account_json_is_checked():
    with pytest.raises(ValueError, match="lacks client_email"):
        ServiceAccount.from_json({"private_key": "x", "token_uri": "http://x"})
    with pytest.raises(ValueError, match="not a PEM private key"):
        ServiceAccount.from_json({"client_email": "a@b", "private_key": "nope", "token_uri": "http://x"})
