"""The gateway's HTTP side: a minimal ASGI app speaking Segment's tracking API.

Endpoints: POST /v1/{identify,track,page,screen,group,alias,batch}, the same without /v1, and
GET /health (200 once the gateway listens; `herald up` waits on it).

Answers (Segment's libraries retry on 429 and 5xx, never on other 4xx):

- 200 `{"success": true}`, plus `"rejected": [{"index", "reason"}]` for events refused one by one
  and `"warnings": [{"index", "field", "reason"}]` for events kept without one field (identity
  refused e.g. a time zone). The client must not retry these: nothing is gained.
- 400 bad JSON, a body that is not an object, a batch that is not a list, a body that does not
  gunzip; 401 no or unknown write key; 413 over a limit; 415 a Content-Encoding other than gzip;
  404 unknown path; 405 wrong method.
- 429 with `Retry-After: 1` when the gateway sheds load: more events are waiting on identity and
  ingest than `HERALD_GATEWAY_MAX_INFLIGHT_EVENTS`. Nothing of the request was sent on.
- 503 with `Retry-After: 5` when identity or ingest is unavailable or past its deadline. Part of
  the request may have been applied; a retry is safe because ingest drops a messageId it already
  has and identify/alias/group calls are idempotent. 503, not 429, because the gateway is not
  asking the client to slow down but telling it that a service behind it is down.
- 500 for anything unexpected (logged with the request id), which clients also retry.

Every error body is `{"success": false, "code", "message", "error"}`: `error` is the reason;
`code` and `message` are what Segment's Python library reads from an error answer.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from herald_common.clock import Clock
from herald_common.logs import get_logger, new_request_id
from herald_services.gateway.domain import (
    BATCH,
    ENDPOINTS,
    MalformedPayload,
    MissingWriteKey,
    OverLimit,
    body_limit,
    parse_json_object,
    plan_batch,
    plan_call,
    write_key_from_authorization,
    write_key_from_body,
)
from herald_services.gateway.forwarder import (
    DownstreamFailed,
    DownstreamRefused,
    DownstreamUnavailable,
    Forwarder,
    Outcome,
    Overloaded,
    UnknownWorkspace,
    WorkspaceDirectory,
)
from structlog.contextvars import bound_contextvars

log = get_logger(__name__)

SHED_RETRY_AFTER_SECONDS = 1
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
# gzip of incompressible data is a little larger than the data; this is ample slack.
GZIP_SLACK_BYTES = 1024
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")

Headers = list[tuple[bytes, bytes]]
Reply = tuple[int, bytes, Headers]

SUCCESS = orjson.dumps({"success": True})
HEALTHY = orjson.dumps({"status": "serving"})


class UnsupportedEncoding(Exception):
    pass


class Unauthorized(Exception):
    pass


class ClientGone(Exception):
    pass


def error_body(code: str, reason: str) -> bytes:
    return orjson.dumps({"success": False, "code": code, "message": reason, "error": reason})


def success_body(outcome: Outcome) -> bytes:
    if not outcome.rejected and not outcome.warnings:
        return SUCCESS
    document: dict[str, Any] = {"success": True}
    if outcome.rejected:
        document["rejected"] = [
            {"index": r.index, "reason": r.reason} for r in sorted(outcome.rejected, key=lambda r: r.index)
        ]
    if outcome.warnings:
        document["warnings"] = [
            {"index": w.index, "field": w.field, "reason": w.reason}
            for w in sorted(outcome.warnings, key=lambda w: w.index)
        ]
    return orjson.dumps(document)


def decode_body(raw: bytes, content_encoding: bytes | None, limit: int) -> bytes:
    """The body as JSON bytes: gunzipped when so encoded, never more than limit bytes."""
    encoding = (content_encoding or b"").strip().lower()
    if encoding in (b"", b"identity"):
        if len(raw) > limit:
            raise OverLimit(_over(limit))
        return raw
    if encoding not in (b"gzip", b"x-gzip"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding.decode('latin-1')!r} is not supported; use gzip")
    return gunzip(raw, limit)


def gunzip(raw: bytes, limit: int) -> bytes:
    """Decompresses a gzip body (one or more members), stopping as soon as it passes limit."""
    parts: list[bytes] = []
    size = 0
    remaining = raw
    while remaining:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            part = decompressor.decompress(remaining, limit + 1 - size)
        except zlib.error as error:
            raise MalformedPayload(f"the body is not valid gzip: {error}") from None
        size += len(part)
        if size > limit:
            raise OverLimit(_over(limit))
        if not decompressor.eof:
            raise MalformedPayload("the gzip body is truncated")
        parts.append(part)
        remaining = decompressor.unused_data
    return b"".join(parts)


def _over(limit: int) -> str:
    what = "a batch request" if limit > 32 * 1024 else "a call"
    return f"{what} is limited to {limit // 1024} KB of JSON"


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]], cap: int, limit: int) -> bytes:
    """The raw body, refused as soon as it passes cap bytes (limit is what the client is told)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > cap:
                raise OverLimit(_over(limit))
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class GatewayApp:
    """ASGI 3 application. Holds no state of its own beyond what it is given."""

    def __init__(self, *, directory: WorkspaceDirectory, forwarder: Forwarder, clock: Clock) -> None:
        self.directory = directory
        self.forwarder = forwarder
        self.clock = clock

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _REQUEST_ID.match(value):
                request_id = value.decode("ascii")
        request_id = request_id or new_request_id()
        with bound_contextvars(request_id=request_id):
            status, body, headers = await self._dispatch(scope, receive)
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        headers.append((b"x-request-id", request_id.encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _dispatch(self, scope: dict[str, Any], receive) -> Reply:
        path = scope["path"]
        if len(path) > 1 and path[-1] == "/":
            path = path.rstrip("/")
        method = scope["method"]
        kind = ENDPOINTS.get(path)
        if kind is None:
            if path == "/health":
                if method in ("GET", "HEAD"):
                    return 200, HEALTHY, []
                return 405, error_body("method_not_allowed", "use GET"), [(b"allow", b"GET, HEAD")]
            return 404, error_body("not_found", f"no endpoint {path}"), []
        if method != "POST":
            return 405, error_body("method_not_allowed", "use POST"), [(b"allow", b"POST")]
        try:
            return await self._ingest(kind, scope, receive)
        except MalformedPayload as error:
            return self._refuse(400, "bad_request", error.reason)
        except OverLimit as error:
            return self._refuse(413, "payload_too_large", error.reason)
        except (MissingWriteKey, Unauthorized) as error:
            return self._refuse(401, "unauthorized", str(error))
        except UnsupportedEncoding as error:
            return self._refuse(415, "unsupported_encoding", str(error))
        except Overloaded:
            log.info("load_shed", inflight=self.forwarder.gate.inflight, limit=self.forwarder.gate.limit)
            return (
                429,
                error_body("rate_limited", "too many events waiting; retry later"),
                [(b"retry-after", str(SHED_RETRY_AFTER_SECONDS).encode("ascii"))],
            )
        except DownstreamUnavailable as error:
            return (
                503,
                error_body("unavailable", str(error)),
                [(b"retry-after", str(UNAVAILABLE_RETRY_AFTER_SECONDS).encode("ascii"))],
            )
        except DownstreamRefused as error:
            return self._refuse(400, "bad_request", str(error))
        except DownstreamFailed as error:
            return 500, error_body("internal", str(error)), []
        except ClientGone:
            return 400, error_body("bad_request", "the client went away"), []
        except Exception:
            log.exception("request_failed", path=path)
            return 500, error_body("internal", "internal error"), []

    def _refuse(self, status: int, code: str, reason: str) -> Reply:
        log.info("request_refused", status=status, reason=reason)
        return status, error_body(code, reason), []

    async def _ingest(self, kind: str, scope: dict[str, Any], receive) -> Reply:
        received_at = self.clock.now()
        authorization = encoding = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-encoding":
                encoding = value
            elif name == b"content-length":
                length = value
        # Cheap refusals first, before a byte of the body is read.
        if self.forwarder.gate.full:
            raise Overloaded()
        write_key = write_key_from_authorization(authorization.decode("latin-1")) if authorization else None
        workspace_id = await self._workspace(write_key) if write_key is not None else None
        limit = body_limit(kind)
        cap = limit + GZIP_SLACK_BYTES if encoding else limit
        if length is not None and length.isdigit() and int(length) > cap:
            raise OverLimit(_over(limit))
        body = decode_body(await read_body(receive, cap, limit), encoding, limit)
        payload = parse_json_object(body)
        if workspace_id is None:
            write_key = write_key_from_body(payload)
            if write_key is None:
                raise MissingWriteKey("no write key: send it as the HTTP Basic user name or as writeKey in the body")
            workspace_id = await self._workspace(write_key)

        if kind == BATCH:
            plan = plan_batch(payload, received_at=received_at, body_bytes=len(body))
        else:
            plan = plan_call(kind, payload, received_at=received_at)
        try:
            outcome = await self.forwarder.forward(workspace_id, plan, weight=len(body))
        except UnknownWorkspace:
            self.directory.forget(write_key)
            raise Unauthorized("the write key's workspace no longer exists") from None
        if outcome.rejected:
            log.info(
                "events_refused",
                count=len(outcome.rejected),
                first_index=outcome.rejected[0].index,
                first_reason=outcome.rejected[0].reason,
            )
        return 200, success_body(outcome), []

    async def _workspace(self, write_key: str) -> str:
        workspace_id = await self.directory.workspace_for(write_key)
        if workspace_id is None:
            raise Unauthorized("unknown write key")
        return workspace_id


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
