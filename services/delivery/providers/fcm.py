"""Android push over FCM's HTTP v1 API, authorised with a service account (OAuth 2.0
JWT-bearer grant: an RS256 assertion exchanged at the account's token_uri for an access token,
reused until shortly before it expires)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._http import (
    classify_status,
    is_retryable_status,
    json_or_none,
    retry_after_seconds,
    transport_failure,
)
from .base import Address, Attempt, Message

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600
# An access token is replaced this long before it expires (at most half its lifetime).
REFRESH_MARGIN_SECONDS = 300.0
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_RETRY_CODES = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}


@dataclass(frozen=True)
class ServiceAccount:
    client_email: str
    private_key: rsa.RSAPrivateKey
    token_uri: str
    project_id: str
    private_key_id: str = ""

    @classmethod
    def from_json(cls, info: dict[str, Any]) -> ServiceAccount:
        """Reads a service-account key file's JSON; a ValueError names the missing field."""
        missing = [f for f in ("client_email", "private_key", "token_uri") if not info.get(f)]
        if missing:
            raise ValueError(f"service-account JSON lacks {', '.join(missing)}")
        try:
            key = serialization.load_pem_private_key(str(info["private_key"]).encode(), None)
        except ValueError as error:
            raise ValueError(f"service-account private_key is not a PEM private key: {error}")
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("service-account private_key is not an RSA key")  # noqa: TRY004
        return cls(
            client_email=str(info["client_email"]),
            private_key=key,
            token_uri=str(info["token_uri"]),
            project_id=str(info.get("project_id") or ""),
            private_key_id=str(info.get("private_key_id") or ""),
        )


class TokenError(Exception):
    """The token endpoint gave no access token; ``attempt`` is what the send answers."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.detail)
        self.attempt = attempt


def fcm_data(data: object) -> dict[str, str] | None:
    """FCM's data is a map of strings: strings stay, other values become JSON."""
    if not isinstance(data, dict) or not data:
        return None
    return {
        str(k): v if isinstance(v, str) else orjson.dumps(v, default=str).decode()
        for k, v in data.items()
    }


class FcmProvider:
    name = "fcm"

    def __init__(
        self,
        account: ServiceAccount,
        *,
        project_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.project_id = project_id or account.project_id
        if not self.project_id:
            raise ValueError("no FCM project id: set it or use credentials with project_id")
        self.send_url = f"{base_url.rstrip('/')}/v1/projects/{self.project_id}/messages:send"
        self._clock = clock
        self._client = httpx.AsyncClient(http2=True, timeout=timeout)
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._token_lock = asyncio.Lock()
        self.tokens_fetched = 0

    def assertion(self) -> str:
        now = int(self._clock())
        claims = {
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.account.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": self.account.private_key_id} if self.account.private_key_id else None
        return jwt.encode(claims, self.account.private_key, algorithm="RS256", headers=headers)

    async def access_token(self, *, stale: str | None = None) -> str:
        """The cached access token; a new one when it is near expiry or equals ``stale``."""
        async with self._token_lock:
            now = self._clock()
            if self._token is not None and self._token != stale and now < self._token_refresh_at:
                return self._token
            form = {"grant_type": GRANT_TYPE, "assertion": self.assertion()}
            try:
                response = await self._client.post(self.account.token_uri, data=form)
            except httpx.HTTPError as error:
                raise TokenError(transport_failure(error)) from error
            body = json_or_none(response)
            if not response.is_success or not isinstance(body, dict) or "access_token" not in body:
                reason = _oauth_reason(body) or response.reason_phrase
                detail = f"oauth token endpoint: {response.status_code} {reason}"
                # Refused credentials are the operator's to fix; the message itself is fine.
                raise TokenError(Attempt("retry", detail, _retry_after(response)))
            lifetime = float(body.get("expires_in", 3600))
            self._token = str(body["access_token"])
            self._token_refresh_at = now + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2)
            self.tokens_fetched += 1
            return self._token

    def request_body(self, message: Message, address: Address) -> dict[str, Any]:
        fcm_message: dict[str, Any] = {
            "token": address.value,
            "notification": {"title": message.title or message.subject, "body": message.body},
        }
        data = fcm_data(message.data)
        if data:
            fcm_message["data"] = data
        return {"message": fcm_message}

    async def send(self, message: Message, address: Address) -> Attempt:
        if address.kind != "fcm":
            return Attempt("permanent", f"fcm sends to fcm registration tokens, not {address.kind}")
        body = orjson.dumps(self.request_body(message, address))
        stale: str | None = None
        # A 401 means the access token was refused: fetch a new one and send once more.
        for _ in range(2):
            try:
                token = await self.access_token(stale=stale)
            except TokenError as error:
                return error.attempt
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
            try:
                response = await self._client.post(self.send_url, content=body, headers=headers)
            except httpx.HTTPError as error:
                return transport_failure(error)
            if response.is_success:
                result = json_or_none(response)
                name = result.get("name", "") if isinstance(result, dict) else ""
                return Attempt("accepted", str(name))
            if response.status_code != 401:
                return classify(response)
            stale = token
        return Attempt("retry", f"401 {_error_text(response)} (after a new access token)")

    async def close(self) -> None:
        await self._client.aclose()


def _error(response: httpx.Response) -> dict[str, Any]:
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def fcm_error_code(response: httpx.Response) -> str:
    """The FcmError detail's errorCode (UNREGISTERED, INVALID_ARGUMENT, ...), else the status."""
    error = _error(response)
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == _FCM_ERROR_TYPE:
            return str(detail.get("errorCode", ""))
    return str(error.get("status", ""))


def _error_text(response: httpx.Response) -> str:
    error = _error(response)
    code = fcm_error_code(response)
    message = str(error.get("message") or response.reason_phrase)
    return f"{code}: {message}" if code else message


def classify(response: httpx.Response) -> Attempt:
    """UNREGISTERED gone; 429/500/503 retry (Retry-After); other 4xx permanent with the reason."""
    code = fcm_error_code(response)
    if code == "UNREGISTERED":
        return Attempt("gone", f"{response.status_code} {_error_text(response)}")
    if is_retryable_status(response.status_code) or code in _RETRY_CODES:
        detail = f"{response.status_code} {_error_text(response)}"
        return Attempt("retry", detail, _retry_after(response))
    return classify_status(response, _error_text(response))


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after_seconds(response.headers.get("retry-after"))


def _oauth_reason(body: object) -> str:
    if isinstance(body, dict) and body.get("error"):
        return f"{body['error']}: {body.get('error_description', '')}".rstrip(": ")
    return ""
