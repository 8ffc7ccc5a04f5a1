"""WebhookProvider against a local receiver: the JSON body, the idempotency headers, and how
answers are classified (the signature: test_webhook_signing.py)."""

from __future__ import annotations

import base64
import json

import pytest
from herald_services.delivery.providers._http import retry_after_seconds
from herald_services.delivery.providers.base import Address, Message
from herald_services.delivery.providers.webhook import WebhookProvider

from tests.fakes import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture
def hook():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
async def provider():
    provider = WebhookProvider(secret=SECRET)
    yield provider
    await provider.close()


def call(hook: WebhookReceiver, data=None, path: str = "/hooks/orders", send_id: str = "send-9") -> tuple[Message, Address]:
    url = hook.url + path
    message = Message(send_id=send_id, channel="webhook", data={"user": "u1", "n": 2} if data is None else data, url=url)
    return message, Address("url", url)


async def test_posts_json_signed_with_idempotency_headers(hook, provider):
    attempt = await provider.send(*call(hook, {"user": "u1", "items": [1, 2], "note": "é"}))
    assert attempt.outcome == "accepted"
    [request] = hook.requests
    assert request.method == "POST" and request.path == "/hooks/orders"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"user": "u1", "items": [1, 2], "note": "é"}
    assert WebhookReceiver.signature_valid(request, SECRET)
    assert request.headers["webhook-id"] == "send-9"
    assert request.headers["x-herald-send-id"] == "send-9"
    assert request.headers["idempotency-key"] == "send-9"
    assert "x-herald-signature" not in request.headers  # the sha256= scheme is retired


async def test_4xx_is_permanent(hook, provider):
    hook.respond_with(404, path="/gone")
    hook.respond_with(422, path="/bad", body=b"unprocessable")
    missing = await provider.send(*call(hook, path="/gone"))
    bad = await provider.send(*call(hook, path="/bad"))
    assert missing.outcome == "permanent" and missing.detail.startswith("404")
    assert bad.outcome == "permanent" and bad.detail.startswith("422")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_408_429_and_5xx_retry(hook, provider, status):
    hook.respond_with(status, retry_after="12", times=1)
    attempt = await provider.send(*call(hook))
    assert attempt.outcome == "retry" and attempt.retry_after == 12.0 and attempt.detail.startswith(str(status))
    assert (await provider.send(*call(hook))).accepted


async def test_redirects_are_not_followed(hook, provider):
    hook.respond_with(301, path="/moved")
    attempt = await provider.send(*call(hook, path="/moved"))
    assert attempt.outcome == "permanent" and attempt.detail.startswith("301")
    assert len(hook.requests) == 1


async def test_bad_urls_and_bodies_are_permanent(provider):
    not_http = Message(send_id="s", channel="webhook", data={}, url="ftp://example.com/x")
    assert (await provider.send(not_http, Address("url", not_http.url))).outcome == "permanent"
    not_json = Message(send_id="s", channel="webhook", data={"x": object()}, url="http://127.0.0.1:9/x")
    assert (await provider.send(not_json, Address("url", not_json.url))).outcome == "permanent"


async def test_unreachable_receiver_retries(provider):
    hook = WebhookReceiver().start()
    url = hook.url
    hook.stop()
    message = Message(send_id="s", channel="webhook", data={"a": 1}, url=url + "/x")
    attempt = await provider.send(message, Address("url", message.url))
    assert attempt.outcome == "retry" and "connection" in attempt.detail


async def test_json_null_body_is_sent_as_null(hook, provider):
    message = Message(send_id="s", channel="webhook", data=None, url=hook.url + "/n")
    assert (await provider.send(message, Address("url", message.url))).accepted
    assert json.loads(hook.requests[0].body) is None


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_790_000_000.0  # 2026-09-21T14:13:20Z
    assert retry_after_seconds("30", now=now) == 30.0
    assert retry_after_seconds("Mon, 21 Sep 2026 14:15:20 GMT", now=now) == 120.0
    assert retry_after_seconds("Mon, 21 Sep 2026 14:00:00 GMT", now=now) == 0.0  # already past
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None) is None
