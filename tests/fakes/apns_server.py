"""A stand-in for APNs' provider API over HTTP/2 (h2c: HTTP/2 with prior knowledge, no TLS),
built on the h2 state machine: POST /3/device/{token}, ES256 provider token checked against
the signing key's public half (kid, iss, iat no older than an hour), apns-topic, apns-id,
payload; answers 200 with apns-id, or Apple's status and ``{"reason": ...}``. Anything not
HTTP/2 is refused (``http1_attempts`` counts it), so a push it records came over HTTP/2.

    with ApnsServer() as apns:
        apns.write_key(tmp_path / "AuthKey.p8")  # HERALD_APNS_KEY_FILE; key_id/team_id/topic
        assert apns.pushes[0].payload["aps"]["alert"]["title"] == "Hi"
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_PAYLOAD = 4096


@dataclass
class Push:
    device_token: str
    headers: dict[str, str]
    payload: dict[str, Any]
    provider_token: str
    connection: int  # which TCP connection (1, 2, ...) carried it
    http_version: str = "HTTP/2"


@dataclass
class _Scripted:
    status: int
    reason: str
    retry_after: str | None
    times: int | None


class ApnsServer:
    def __init__(self, *, team_id: str = "TEAM123456", key_id: str = "KEY1234567",
                 topic: str = "com.example.herald") -> None:
        self.team_id, self.key_id, self.topic = team_id, key_id, topic
        self.signing_key = ec.generate_private_key(ec.SECP256R1())
        self.lock = threading.Lock()
        self.pushes: list[Push] = []  # accepted pushes
        self.rejected: list[tuple[int, str]] = []  # (status, reason) of every refused request
        self.provider_tokens: list[str] = []  # distinct provider tokens seen, in order
        self.connections = 0
        self.http1_attempts = 0
        self._expired: set[str] = set()
        self._rules: dict[str, _Scripted] = {}
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    # -- the signing key ------------------------------------------------------------------------
    @property
    def key_pem(self) -> bytes:
        """The key as Apple issues it (.p8: PKCS#8 PEM)."""
        return self.signing_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())

    def write_key(self, path: Path | str) -> Path:
        path = Path(path)
        path.write_bytes(self.key_pem)
        return path

    # -- scripting ------------------------------------------------------------------------------
    def mark_gone(self, device_token: str) -> None:
        """Pushes to ``device_token`` answer 410 Unregistered."""
        self.respond_for(device_token, 410, "Unregistered")

    def respond_for(self, device_token: str, status: int, reason: str, *, retry_after: str | None = None,
                    times: int | None = None) -> None:
        with self.lock:
            self._rules[device_token] = _Scripted(status, reason, retry_after, times)

    def expire_provider_tokens(self) -> None:
        """Every provider token seen so far answers 403 ExpiredProviderToken from now on."""
        with self.lock:
            self._expired.update(self.provider_tokens)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Self:
        self._listener = socket.create_server(("127.0.0.1", 0))
        thread = threading.Thread(target=self._accept, name="ApnsServer", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self.lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() the fake first"
        return self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the connection loop --------------------------------------------------------------------
    def _accept(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
                self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            first = _read_exactly(sock, len(PREFACE))
            if first != PREFACE:
                with self.lock:
                    self.http1_attempts += 1
                sock.sendall(b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\n"
                             b"connection: close\r\n\r\n")
                return
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
            conn.initiate_connection()
            streams: dict[int, tuple[dict[str, str], bytearray]] = {}
            data = first
            while data:
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = ({k: v for k, v in event.headers}, bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        status, reply_headers, reply = self._answer(headers, bytes(body), number)
                        conn.send_headers(event.stream_id, [(":status", str(status)), *reply_headers.items()],
                                          end_stream=not reply)
                        if reply:
                            conn.send_data(event.stream_id, reply, end_stream=True)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        sock.sendall(conn.data_to_send())
                        return
                sock.sendall(conn.data_to_send())
                data = sock.recv(65535)
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            sock.close()

    # -- APNs' rules ----------------------------------------------------------------------------
    def _answer(self, headers: dict[str, str], body: bytes, connection: int) -> tuple[int, dict[str, str], bytes]:
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        status, reason, extra = self._check(headers, body, connection)
        reply_headers = {"apns-id": apns_id, **extra}
        if status == 200:
            return 200, reply_headers, b""
        document: dict[str, Any] = {"reason": reason}
        if status == 410:
            document["timestamp"] = int(time.time() * 1000)
        with self.lock:
            self.rejected.append((status, reason))
        return status, {**reply_headers, "content-type": "application/json"}, json.dumps(document).encode()

    def _check(self, headers: dict[str, str], body: bytes, connection: int) -> tuple[int, str, dict[str, str]]:
        path = headers.get(":path", "")
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed", {}
        if not path.startswith("/3/device/"):
            return 404, "BadPath", {}
        device = path.removeprefix("/3/device/")
        if not device:
            return 400, "MissingDeviceToken", {}
        auth = headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return 403, "MissingProviderToken", {}
        token = auth.removeprefix("bearer ")
        with self.lock:
            if token not in self.provider_tokens:
                self.provider_tokens.append(token)
            expired = token in self._expired
        problem = self._token_problem(token)
        if problem:
            return 403, problem, {}
        if expired:
            return 403, "ExpiredProviderToken", {}
        if "apns-topic" not in headers:
            return 400, "MissingTopic", {}
        if headers["apns-topic"] != self.topic:
            return 400, "DeviceTokenNotForTopic", {}
        if headers.get("apns-push-type", "alert") not in ("alert", "background", "voip", "complication",
                                                             "fileprovider", "mdm", "location", "liveactivity"):
            return 400, "InvalidPushType", {}
        if "apns-id" in headers:
            try:
                uuid.UUID(headers["apns-id"])
            except ValueError:
                return 400, "BadMessageId", {}
        if not body:
            return 400, "PayloadEmpty", {}
        if len(body) > MAX_PAYLOAD:
            return 413, "PayloadTooLarge", {}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "BadPayload", {}
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return 400, "PayloadEmpty", {}
        if any(c not in "0123456789abcdefABCDEF" for c in device):
            return 400, "BadDeviceToken", {}
        with self.lock:
            rule = self._rules.get(device)
            if rule is not None and (rule.times is None or rule.times > 0):
                if rule.times is not None:
                    rule.times -= 1
                return rule.status, rule.reason, {"retry-after": rule.retry_after} if rule.retry_after else {}
            self.pushes.append(Push(device, dict(headers), payload, token, connection))
        return 200, "", {}

    def _token_problem(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.signing_key.public_key(), algorithms=["ES256"],
                                options={"require": ["iss", "iat"], "verify_iat": False})
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        if header.get("kid") != self.key_id or claims["iss"] != self.team_id:
            return "InvalidProviderToken"
        if time.time() - float(claims["iat"]) > 3600:
            return "ExpiredProviderToken"
        return ""


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data
