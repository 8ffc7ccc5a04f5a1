"""iOS push over APNs' HTTP/2 API with a token-based (.p8) signing key.

Each request carries ``authorization: bearer <JWT>``: ES256, header ``kid`` = the key id, claims
``iss`` = the team id and ``iat``. Apple refuses a token older than an hour and also one
refreshed too often, so one token is reused for ``TOKEN_REFRESH_SECONDS`` (50 minutes).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ._http import classify_status, json_or_none, transport_failure
from .base import Address, Attempt, Message

DEFAULT_BASE_URL = "https://api.push.apple.com"
TOKEN_REFRESH_SECONDS = 50 * 60
# apns-id is the send id when that is a UUID, else a UUID derived from it (stable across retries).
APNS_ID_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4d0a-9b7e-2f4c6a8e0b13")
# 400 BadDeviceToken means "bad, or for the other environment" (Apple's words): a deployment
# pointed at the wrong environment would otherwise erase every device, so it is permanent.
# Only 410 (Unregistered, ExpiredToken) means the token is gone.
# A key Apple does not accept is the operator's to fix, not the message's fault: retry.
_CREDENTIAL_REASONS = {"InvalidProviderToken", "MissingProviderToken"}


def apns_id(send_id: str) -> str:
    try:
        return str(uuid.UUID(send_id))
    except ValueError:
        return str(uuid.uuid5(APNS_ID_NAMESPACE, send_id))


def payload(message: Message) -> dict[str, Any]:
    """``{"aps": {"alert": {title, body}}}`` plus the message's data as custom keys."""
    alert = {"title": message.title or message.subject, "body": message.body}
    extra = message.data if isinstance(message.data, dict) else {}
    return {**{k: v for k, v in extra.items() if k != "aps"}, "aps": {"alert": alert}}


class ApnsProvider:
    """Speaks HTTP/2 only (APNs refuses HTTP/1.1); an http:// base URL uses HTTP/2 with prior
    knowledge (h2c), which only a local stand-in offers."""

    name = "apns"

    def __init__(
        self,
        *,
        signing_key: str | bytes | ec.EllipticCurvePrivateKey,
        key_id: str,
        team_id: str,
        topic: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key_id = key_id
        self.team_id = team_id
        self.topic = topic
        self.base_url = base_url.rstrip("/")
        self._key = (
            signing_key
            if isinstance(signing_key, ec.EllipticCurvePrivateKey)
            else load_signing_key(signing_key)
        )
        self._clock = clock
        self._token: str | None = None
        self._token_iat = 0.0
        self.tokens_issued = 0
        self._client = httpx.AsyncClient(http1=False, http2=True, timeout=timeout)

    def provider_token(self) -> str:
        """The cached JWT, signed anew once it is ``TOKEN_REFRESH_SECONDS`` old."""
        now = self._clock()
        if self._token is None or now - self._token_iat >= TOKEN_REFRESH_SECONDS:
            iat = int(now)
            self._token = jwt.encode(
                {"iss": self.team_id, "iat": iat},
                self._key,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
            self._token_iat = float(iat)
            self.tokens_issued += 1
        return self._token

    async def send(self, message: Message, address: Address) -> Attempt:
        if address.kind != "apns":
            return Attempt("permanent", f"apns sends to apns device tokens, not {address.kind}")
        body = orjson.dumps(payload(message))
        # A token Apple calls expired is signed anew and the push sent once more.
        for _ in range(2):
            token = self.provider_token()
            headers = {
                "authorization": f"bearer {token}",
                "apns-topic": self.topic,
                "apns-push-type": "alert",
                "apns-priority": "10",
                "apns-id": apns_id(message.send_id),
                "content-type": "application/json",
            }
            url = f"{self.base_url}/3/device/{address.value}"
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                return transport_failure(error)
            if response.status_code == 200:
                return Attempt("accepted", response.headers.get("apns-id", headers["apns-id"]))
            reason = _reason(response)
            if response.status_code == 403 and reason == "ExpiredProviderToken":
                if self._token == token:  # not already replaced by a concurrent send
                    self._token = None
                continue
            return classify(response, reason)
        return Attempt("retry", f"403 {reason} (after signing a new provider token)")

    async def close(self) -> None:
        await self._client.aclose()


def _reason(response: httpx.Response) -> str:
    body = json_or_none(response)
    if isinstance(body, dict) and body.get("reason"):
        return str(body["reason"])
    return response.reason_phrase or ""


def classify(response: httpx.Response, reason: str) -> Attempt:
    """410 gone; 429, 5xx and a refused key retry (with Retry-After); other 4xx permanent with
    Apple's reason (400 BadDeviceToken included)."""
    if response.status_code == 410:
        return Attempt("gone", f"410 {reason}".strip())
    if response.status_code == 403 and reason in _CREDENTIAL_REASONS:
        return Attempt("retry", f"403 {reason}: the APNs key, key id or team id is not accepted")
    return classify_status(response, reason)


def load_signing_key(pem: str | bytes) -> ec.EllipticCurvePrivateKey:
    """The .p8 key Apple issues: a PKCS#8 PEM P-256 private key."""
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("not an APNs signing key (expected a P-256 EC private key, .p8)")
    return key
