"""Webhook messages: the message's data POSTed as JSON, always signed the Standard Webhooks way
(standardwebhooks.com), so a receiver can check it came from herald and is not a replay:

- `webhook-id`: the send id, the same on every retry (a receiver dedupes on it);
- `webhook-timestamp`: this attempt's Unix time in seconds (a receiver refuses old ones);
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the
  base64-decoded part of the `whsec_` secret; during a rotation one signature per secret,
  space-separated, the current one first.

The signing is the spec's three lines; the tests check it with the spec's reference verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx
import orjson
from herald_common.webhook_secret import secret_key

from ._http import classify_status, transport_failure
from .base import Address, Attempt, Message


def signature(keys: Sequence[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,<base64>` per key, space-separated."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys
    )


class WebhookProvider:
    """2xx accepted; 408, 429, 5xx and transport errors retry; any other answer is permanent."""

    name = "webhook"

    def __init__(
        self,
        *,
        secret: str,
        previous_secret: str | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self._keys = [secret_key(secret or "")]
        if previous_secret:
            self._keys.append(secret_key(previous_secret))
        self._clock = clock
        # Redirects are not followed: a webhook that moved answers permanent, with its status.
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(self, message: Message, address: Address) -> Attempt:
        url = message.url or address.value
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return Attempt("permanent", f"webhook url {url!r} is not an http(s) URL")
        try:
            body = orjson.dumps(message.data)
        except TypeError as error:
            return Attempt("permanent", f"webhook body is not JSON: {error}")
        timestamp = int(self._clock())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.send_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._keys, message.send_id, timestamp, body),
            "x-herald-send-id": message.send_id,
            "idempotency-key": message.send_id,
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return transport_failure(error)
        if response.is_success:
            return Attempt("accepted", str(response.status_code))
        return classify_status(response, response.reason_phrase or response.text[:200])

    async def close(self) -> None:
        await self._client.aclose()
