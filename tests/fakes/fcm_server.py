"""A stand-in for Google's OAuth token endpoint and FCM's HTTP v1 API.

POST /token takes ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``,
checks the RS256 assertion against the service account's public key (iss, aud = token_uri,
scope, iat/exp) and issues ``{access_token, expires_in, token_type}``. POST
/v1/projects/{project}/messages:send checks the bearer token and the message, and answers
``{"name": ...}`` or FCM's error JSON (UNREGISTERED, INVALID_ARGUMENT, ...).

    with FcmServer() as fcm:
        creds = fcm.write_credentials(tmp_path / "sa.json")  # HERALD_FCM_CREDENTIALS_FILE
        assert fcm.messages[0]["token"] == "device-token"
"""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .http_base import Reply, Request, Rule, ThreadedHttpFake

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_SEND = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
_STATUS_OF = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def fcm_error(status: int, error_code: str, message: str, **headers: str) -> Reply:
    """FCM's error document: google.rpc.Status with an FcmError detail."""
    document = {"error": {"code": status, "message": message, "status": _STATUS_OF.get(status, "UNKNOWN"),
                          "details": [{"@type": FCM_ERROR, "errorCode": error_code}]}}
    return Reply.json(status, document, **headers)


class FcmServer(ThreadedHttpFake):
    def __init__(self, *, project_id: str = "herald-test", client_email: str = "herald@herald-test.iam.gserviceaccount.com",
                 expires_in: int = 3599) -> None:
        super().__init__()
        self.project_id = project_id
        self.client_email = client_email
        self.expires_in = expires_in  # what the token endpoint says each access token lasts
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_id = "fake-key-1"
        self.assertions: list[dict[str, Any]] = []  # verified assertion claims, one per token
        self.issued: list[str] = []  # access tokens issued, in order
        self.messages: list[dict[str, Any]] = []  # accepted "message" objects
        self.used_tokens: list[str] = []  # the bearer token of each accepted message
        self._valid_until: dict[str, float] = {}
        self._rules: dict[str, Rule] = {}
        self._ids = itertools.count(1)

    # -- credentials --------------------------------------------------------------------------
    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def credentials(self, project_id: str | None = None, token_uri: str | None = None) -> dict[str, str]:
        """A service-account key JSON document whose token_uri is this server (or ``token_uri``)."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {"type": "service_account", "project_id": project_id or self.project_id,
                "private_key_id": self.private_key_id, "private_key": pem,
                "client_email": self.client_email, "client_id": "1", "token_uri": token_uri or self.token_uri}

    def write_credentials(self, path: Path | str, project_id: str | None = None) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.credentials(project_id)))
        return path

    # -- scripting ----------------------------------------------------------------------------
    def mark_unregistered(self, token: str) -> None:
        """Messages to ``token`` answer 404 UNREGISTERED, as for an uninstalled app."""
        self._rules[token] = Rule(fcm_error(404, "UNREGISTERED", "Requested entity was not found."))

    def respond_for(self, token: str, status: int, error_code: str, message: str = "", *,
                    retry_after: str | None = None, times: int | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._rules[token] = Rule(fcm_error(status, error_code, message or f"scripted {error_code}", **headers), times)

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far answers 401 UNAUTHENTICATED from now on."""
        with self.lock:
            self._valid_until.clear()

    # -- the API ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/token":
            return self._token(request)
        match = _SEND.match(request.path)
        if request.method == "POST" and match:
            return self._send(request, match["project"])
        return Reply.json(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})

    def _token(self, request: Request) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != GRANT_TYPE:
            return Reply.json(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        try:
            header = jwt.get_unverified_header(form.get("assertion", ""))
            claims = jwt.decode(form.get("assertion", ""), self.private_key.public_key(), algorithms=["RS256"],
                                audience=self.token_uri, options={"require": ["iss", "aud", "iat", "exp", "scope"],
                                                                          "verify_iat": False})
        except jwt.PyJWTError as error:
            return Reply.json(400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {error}"})
        if claims["iss"] != self.client_email or SCOPE not in str(claims["scope"]).split():
            return Reply.json(400, {"error": "invalid_grant", "error_description": "bad iss or scope"})
        if claims["exp"] - claims["iat"] > 3600 or header.get("kid") not in (None, self.private_key_id):
            return Reply.json(400, {"error": "invalid_grant", "error_description": "bad exp or kid"})
        with self.lock:
            token = f"ya29.fake-{next(self._ids)}"
            self.assertions.append(claims)
            self.issued.append(token)
            self._valid_until[token] = time.monotonic() + self.expires_in
        return Reply.json(200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def _send(self, request: Request, project: str) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            valid = self._valid_until.get(token, 0.0) > time.monotonic()
        if not valid:
            return Reply.json(401, {"error": {"code": 401, "status": "UNAUTHENTICATED",
                                              "message": "Request had invalid authentication credentials."}})
        if project != self.project_id:
            return fcm_error(403, "SENDER_ID_MISMATCH", f"project {project} is not this sender")
        try:
            message = request.json()["message"]
            target = message["token"]
        except (ValueError, KeyError, TypeError):
            return fcm_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        data = message.get("data") or {}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data' (TYPE_STRING)")
        with self.lock:
            rule = self._rules.get(target)
            scripted = rule.take() if rule else None
            if scripted is not None:
                return scripted
            self.messages.append(message)
            self.used_tokens.append(token)
            name = f"projects/{project}/messages/0:{next(self._ids)}"
        return Reply.json(200, {"name": name})
