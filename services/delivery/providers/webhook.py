"""Webhook messages: the message's data POSTed as JSON, signed with HMAC-SHA256 when a secret
is set."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

import httpx
import orjson

from ._http import classify_status, transport_failure
from .base import Address, Attempt, Message


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookProvider:
    """2xx accepted; 408, 429, 5xx and transport errors retry; any other answer is permanent."""

    name = "webhook"

    def __init__(
        self,
        *,
        secret: str | None = None,
        signature_header: str = "X-Herald-Signature",
        timeout: float = 10.0,
    ) -> None:
        self.secret = secret or None
        self.signature_header = signature_header
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
        headers = {
            "content-type": "application/json",
            "x-herald-send-id": message.send_id,
            "idempotency-key": message.send_id,
        }
        if self.secret:
            headers[self.signature_header] = signature(self.secret, body)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return transport_failure(error)
        if response.is_success:
            return Attempt("accepted", str(response.status_code))
        return classify_status(response, response.reason_phrase or response.text[:200])

    async def close(self) -> None:
        await self._client.aclose()
