"""One gRPC server builder for every service.

Each server gets the standard health service and server reflection (so grpcurl and
Kubernetes `grpc:` probes work), an interceptor that checks the caller's token (access.py),
binds the caller's request id and maps domain errors to status codes, and a graceful stop on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from structlog.contextvars import bound_contextvars

from herald_common import tls
from herald_common.access import AUTHORIZATION_HEADER, Gate
from herald_common.errors import HeraldError, InvalidArgument
from herald_common.logs import REQUEST_ID_HEADER, get_logger, new_request_id
from herald_common.metrics import observe_rpc

if TYPE_CHECKING:
    from herald_common.settings import Settings

log = get_logger(__name__)

STATUS_CODES = {
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "UNKNOWN": grpc.StatusCode.UNKNOWN,
}

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


def _status_details(error: InvalidArgument) -> tuple[tuple[str, bytes], ...]:
    """google.rpc.BadRequest with one violation per field, as grpcio-status reads it."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=e.field, description=e.reason)
            for e in error.errors
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=error.message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


def _code_name(code) -> str | None:
    """A status a handler set on its context (a StatusCode, or its int value), by name."""
    if code is None:
        return None
    if isinstance(code, grpc.StatusCode):
        return code.name
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return str(code)


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Refuses a call without the token its method needs (UNAUTHENTICATED, when a gate is
    given), binds the request id for logs, turns domain errors into status codes, and counts and
    times every unary call (herald_grpc_server_requests_total, ..._handling_seconds)."""

    def __init__(self, gate: Gate | None = None) -> None:
        self.gate = gate

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        if self.gate is not None:
            refusal = self.gate.refusal(method, metadata.get(AUTHORIZATION_HEADER))
            if refusal is not None:
                return _refused(handler, method, refusal)
        if handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        async def behaviour(request, context):
            request_id = metadata.get(REQUEST_ID_HEADER) or new_request_id()
            started = time.perf_counter()
            code = "OK"
            with bound_contextvars(request_id=request_id, rpc=method):
                try:
                    response = await inner(request, context)
                    code = _code_name(context.code()) or "OK"
                    return response
                except HeraldError as error:
                    code = error.code_name
                    trailing = _status_details(error) if isinstance(error, InvalidArgument) else ()
                    log.info("rpc_refused", code=error.code_name, reason=error.message)
                    await context.abort(STATUS_CODES[error.code_name], error.message, trailing)
                except grpc.aio.AioRpcError as error:
                    # A call this service made to another one failed: pass its code on, so a
                    # caller sees UNAVAILABLE (retry later) rather than INTERNAL.
                    code = error.code().name
                    log.warning("downstream_call_failed", code=error.code().name, details=error.details())
                    await context.abort(error.code(), error.details() or f"a downstream call failed: {error.code().name}")
                except asyncio.CancelledError:
                    code = "CANCELLED"
                    raise
                except Exception:
                    if context.code() is not None:
                        code = _code_name(context.code()) or "UNKNOWN"
                        raise
                    code = "INTERNAL"
                    log.exception("rpc_failed")
                    await context.abort(
                        grpc.StatusCode.INTERNAL, f"internal error in {method} (request_id={request_id})"
                    )
                finally:
                    observe_rpc(method, code, time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _refused(handler, method: str, refusal: str):
    """A handler of the same kind that answers UNAUTHENTICATED without running the method."""

    async def refuse(_request, context):
        log.warning("rpc_unauthenticated", rpc=method, peer=context.peer(), reason=refusal)
        observe_rpc(method, "UNAUTHENTICATED", 0.0)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal)

    if handler.unary_unary is not None:
        build = grpc.unary_unary_rpc_method_handler
    elif handler.unary_stream is not None:
        build = grpc.unary_stream_rpc_method_handler
    elif handler.stream_unary is not None:
        build = grpc.stream_unary_rpc_method_handler
    else:
        build = grpc.stream_stream_rpc_method_handler
    return build(
        refuse, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


@dataclass(frozen=True)
class Registration:
    """A servicer and how to add it: `add(servicer, server)` from the generated *_pb2_grpc."""

    add: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    service_name: str  # the full proto name, e.g. "herald.identity.v1.IdentityService"


def create_server(
    address: str, registrations: Iterable[Registration], *, settings: Settings | None
) -> tuple[grpc.aio.Server, int, Any]:
    """Builds (does not start) a server bound to address; port 0 picks a free port.

    With settings, every call needs its token (access.Gate, from the settings' tokens) and the
    server serves TLS when the settings name a certificate (tls.py), requiring client
    certificates when they name a client CA. None builds an open plaintext server: only for the
    stand-ins tests and benchmarks run in place of a service.
    Returns (server, port, health servicer).
    """
    gate = Gate.from_settings(settings) if settings is not None else None
    # No SO_REUSEPORT: a second server on a taken port must fail, not silently share it.
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(gate)], options=[*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)]
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    for registration in registrations:
        registration.add(registration.servicer, server)
        names.append(registration.service_name)
    reflection.enable_server_reflection(names, server)
    credentials = tls.server_credentials(settings) if settings is not None else None
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"cannot listen on {address}")
    return server, port, health


async def mark_serving(health, service_names: Iterable[str]) -> None:
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    for name in service_names:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)


async def serve_until_signalled(
    server: grpc.aio.Server,
    health,
    *,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    grace_seconds: float = 5.0,
) -> None:
    """Runs a started server until SIGTERM or SIGINT, then stops it gracefully."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("server_stopping", grace_seconds=grace_seconds)
    await health.enter_graceful_shutdown()
    await server.stop(grace_seconds)
    if on_stop is not None:
        await on_stop()
    log.info("server_stopped")
