"""ApnsProvider against the local APNs stand-in (HTTP/2 via h2): the request on the wire, the
ES256 provider token and its reuse and refresh, and Apple's answers classified."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pytest
from herald_services.delivery.providers.apns import (
    TOKEN_REFRESH_SECONDS,
    ApnsProvider,
    apns_id,
)
from herald_services.delivery.providers.base import Address, Message

from tests.fakes import ApnsServer

DEVICE = "a1b2c3d4" * 8


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def apns():
    with ApnsServer(team_id="TEAMID1234", key_id="ABCDE12345", topic="com.example.shop") as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def provider(apns, clock):
    provider = ApnsProvider(signing_key=apns.key_pem, key_id=apns.key_id, team_id=apns.team_id,
                            topic=apns.topic, base_url=apns.url, clock=clock)
    yield provider
    await provider.close()


def push(send_id: str = "send-1", **fields) -> Message:
    return Message(send_id=send_id, channel="push", title=fields.pop("title", "Back in stock"),
                   body=fields.pop("body", "Your shoes are back"), **fields)


async def test_push_over_http2_with_headers_token_and_payload(apns, provider, clock):
    attempt = await provider.send(push("send-7", data={"cart": "42"}), Address("apns", DEVICE))
    assert attempt.outcome == "accepted", attempt
    [received] = apns.pushes
    assert received.http_version == "HTTP/2" and apns.http1_attempts == 0
    assert received.device_token == DEVICE
    headers = received.headers
    assert headers[":method"] == "POST" and headers[":path"] == f"/3/device/{DEVICE}"
    assert headers["apns-topic"] == "com.example.shop"
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-id"] == apns_id("send-7") == str(uuid.UUID(headers["apns-id"]))
    assert attempt.detail == headers["apns-id"]
    assert received.payload == {"aps": {"alert": {"title": "Back in stock", "body": "Your shoes are back"}},
                                "cart": "42"}
    token = headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "ABCDE12345", "typ": "JWT"}
    claims = jwt.decode(token, apns.signing_key.public_key(), algorithms=["ES256"])
    assert claims == {"iss": "TEAMID1234", "iat": int(clock.now)}


async def test_apns_id_is_stable_and_a_uuid_send_id_is_kept():
    assert apns_id("send-7") == apns_id("send-7") != apns_id("send-8")
    same = str(uuid.uuid4())
    assert apns_id(same) == same


async def test_provider_token_is_reused_then_refreshed_before_an_hour(apns, provider, clock):
    for n in range(3):
        assert (await provider.send(push(f"s{n}"), Address("apns", DEVICE))).accepted
    assert len(apns.provider_tokens) == 1 and provider.tokens_issued == 1
    clock.now += TOKEN_REFRESH_SECONDS - 1
    assert (await provider.send(push("s3"), Address("apns", DEVICE))).accepted
    assert len(apns.provider_tokens) == 1
    clock.now += 2  # 50 minutes old: signed anew, well before Apple's hour
    assert (await provider.send(push("s4"), Address("apns", DEVICE))).accepted
    assert len(apns.provider_tokens) == 2 and provider.tokens_issued == 2
    assert TOKEN_REFRESH_SECONDS < 3600
    assert {p.connection for p in apns.pushes} == {1}  # one HTTP/2 connection throughout


async def test_expired_provider_token_is_signed_anew_and_sent_once_more(apns, provider, clock):
    assert (await provider.send(push("a"), Address("apns", DEVICE))).accepted
    apns.expire_provider_tokens()
    clock.now += 5
    attempt = await provider.send(push("b"), Address("apns", DEVICE))
    assert attempt.accepted, attempt
    assert apns.rejected == [(403, "ExpiredProviderToken")]
    assert len(apns.provider_tokens) == 2 and len(apns.pushes) == 2


async def test_unregistered_token_is_gone(apns, provider):
    apns.mark_gone(DEVICE)
    attempt = await provider.send(push(), Address("apns", DEVICE))
    assert attempt.outcome == "gone" and "Unregistered" in attempt.detail


async def test_bad_device_token_is_permanent_not_gone(apns, provider):
    attempt = await provider.send(push(), Address("apns", "not-a-token"))
    assert attempt.outcome == "permanent" and attempt.detail == "400 BadDeviceToken"


async def test_wrong_topic_is_permanent(apns):
    provider = ApnsProvider(signing_key=apns.key_pem, key_id=apns.key_id, team_id=apns.team_id,
                            topic="com.example.other", base_url=apns.url)
    try:
        attempt = await provider.send(push(), Address("apns", DEVICE))
    finally:
        await provider.close()
    assert attempt.outcome == "permanent" and "DeviceTokenNotForTopic" in attempt.detail


async def test_key_apple_does_not_know_retries_and_says_so(apns):
    other = ApnsServer()  # a different signing key, never started
    provider = ApnsProvider(signing_key=other.key_pem, key_id=apns.key_id, team_id=apns.team_id,
                            topic=apns.topic, base_url=apns.url)
    try:
        attempt = await provider.send(push(), Address("apns", DEVICE))
    finally:
        await provider.close()
    # A refused key is the operator's to fix, not the message's fault: retry, said plainly.
    assert attempt.outcome == "retry" and "InvalidProviderToken" in attempt.detail
    assert "key" in attempt.detail
    assert apns.rejected == [(403, "InvalidProviderToken")] and apns.pushes == []


async def test_429_and_503_retry_with_retry_after(apns, provider):
    apns.respond_for(DEVICE, 429, "TooManyRequests", times=1)
    apns.respond_for("ff" * 32, 503, "ServiceUnavailable", retry_after="30")
    throttled = await provider.send(push(), Address("apns", DEVICE))
    unavailable = await provider.send(push(), Address("apns", "ff" * 32))
    again = await provider.send(push(), Address("apns", DEVICE))
    assert throttled.outcome == "retry" and "TooManyRequests" in throttled.detail
    assert unavailable.outcome == "retry" and unavailable.retry_after == 30.0
    assert again.accepted


async def test_payload_too_large_is_permanent(apns, provider):
    attempt = await provider.send(push(body="x" * 5000), Address("apns", DEVICE))
    assert attempt.outcome == "permanent" and attempt.detail == "413 PayloadTooLarge"


async def test_unreachable_apns_retries():
    server = ApnsServer().start()
    url = server.url
    server.stop()
    provider = ApnsProvider(signing_key=server.key_pem, key_id="K", team_id="T", topic="t", base_url=url, timeout=2)
    try:
        attempt = await provider.send(push(), Address("apns", DEVICE))
    finally:
        await provider.close()
    assert attempt.outcome == "retry" and "connection" in attempt.detail


async def test_concurrent_pushes_share_one_http2_connection(apns, provider):
    devices = [f"{n:064x}" for n in range(20)]
    attempts = await asyncio.gather(*(provider.send(push(f"s{n}"), Address("apns", d)) for n, d in enumerate(devices)))
    assert all(a.accepted for a in attempts)
    assert sorted(p.device_token for p in apns.pushes) == sorted(devices)
    assert apns.connections == 1 and provider.tokens_issued == 1
