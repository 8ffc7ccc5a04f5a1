"""A threaded HTTP/1.1 server (keep-alive) on 127.0.0.1 and a free port, the base of the HTTP
fakes: subclasses implement ``handle(request) -> Reply``."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    http_version: str = "HTTP/1.1"

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(document).encode(), {"content-type": "application/json", **headers})


@dataclass
class Rule:
    """A scripted answer: used ``times`` times (None: for ever)."""

    reply: Reply
    times: int | None = None

    def take(self) -> Reply | None:
        if self.times is not None:
            if self.times <= 0:
                return None
            self.times -= 1
        return self.reply


class ThreadedHttpFake:
    """start() binds 127.0.0.1:0 and serves in a daemon thread; stop() shuts it down."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []  # every request, in arrival order
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to override ------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parts.query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    http_version=self.request_version,
                )
                with fake.lock:
                    fake.requests.append(request)
                try:
                    reply = fake.handle(request)
                except Exception as error:  # noqa: BLE001 -- a bug in the fake: answer 500 and say why
                    reply = Reply(500, f"fake failed: {error!r}".encode())
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
