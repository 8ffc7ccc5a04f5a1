"""Webhooks are signed the Standard Webhooks way (standardwebhooks.com), checked with the spec's
reference verifier (the `standardwebhooks` package): `webhook-id` is the send id and stays the same
across retries, `webhook-timestamp` is the attempt's Unix time, `webhook-signature` is
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, with both secrets during a rotation."""

from __future__ import annotations

import base64
import time

import pytest
from herald_services.delivery.providers.base import Address, Message
from herald_services.delivery.providers.webhook import WebhookProvider
from standardwebhooks import Webhook, WebhookVerificationError

from tests.fakes import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"herald-test-secret-of-32-bytes!!").decode()
PREVIOUS = "whsec_" + base64.b64encode(b"the-secret-before-the-rotation!!").decode()
OTHER = "whsec_" + base64.b64encode(b"a-secret-herald-never-signed-with").decode()


@pytest.fixture
def hook():
    with WebhookReceiver() as server:
        yield server


def message(hook: WebhookReceiver, send_id: str = "send-42") -> tuple[Message, Address]:
    url = hook.url + "/hooks/churn"
    return Message(send_id=send_id, channel="webhook", data={"user": "u1", "note": "é"}, url=url), Address("url", url)


async def send_with(hook, **kwargs):
    provider = WebhookProvider(**kwargs)
    try:
        return await provider.send(*message(hook))
    finally:
        await provider.close()


async def test_the_reference_verifier_accepts_herald_webhooks(hook):
    assert (await send_with(hook, secret=SECRET)).accepted
    [request] = hook.requests
    assert Webhook(SECRET).verify(request.body, request.headers) == {"user": "u1", "note": "é"}
    assert request.headers["webhook-id"] == "send-42"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["idempotency-key"] == "send-42"


async def test_a_tampered_body_a_wrong_secret_and_another_id_are_refused(hook):
    await send_with(hook, secret=SECRET)
    [request] = hook.requests
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(SECRET).verify(request.body.replace(b"u1", b"u2"), request.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(OTHER).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(SECRET).verify(request.body, {**request.headers, "webhook-id": "send-43"})


async def test_an_old_timestamp_is_refused_as_a_replay(hook):
    ten_minutes_ago = time.time() - 600
    await send_with(hook, secret=SECRET, clock=lambda: ten_minutes_ago)
    [request] = hook.requests
    assert request.headers["webhook-timestamp"] == str(int(ten_minutes_ago))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(request.body, request.headers)


async def test_a_retry_keeps_the_webhook_id_and_signs_its_own_timestamp(hook):
    hook.respond_with(503, times=1)
    now = [time.time() - 30]
    provider = WebhookProvider(secret=SECRET, clock=lambda: now[0])
    try:
        assert (await provider.send(*message(hook))).outcome == "retry"
        now[0] += 20
        assert (await provider.send(*message(hook))).accepted
    finally:
        await provider.close()
    first, second = hook.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "send-42"
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 20
    for request in (first, second):
        Webhook(SECRET).verify(request.body, request.headers)


async def test_during_a_rotation_both_secrets_sign_space_separated(hook):
    await send_with(hook, secret=SECRET, previous_secret=PREVIOUS)
    [request] = hook.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    Webhook(SECRET).verify(request.body, request.headers)  # receivers already on the new secret
    Webhook(PREVIOUS).verify(request.body, request.headers)  # and those not yet moved
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(request.body, request.headers)


def test_a_provider_without_a_secret_cannot_be_made():
    with pytest.raises(ValueError, match="whsec_"):
        WebhookProvider(secret="")
