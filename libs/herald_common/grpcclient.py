"""Channels to other services: the request id travels in metadata, every call has a deadline."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from herald_common.errors import FieldError
from herald_common.grpcserver import CHANNEL_OPTIONS
from herald_common.logs import REQUEST_ID_HEADER, current_request_id


def request_metadata() -> tuple[tuple[str, str], ...] | None:
    """The caller's request id as call metadata, so logs of every service share it.

    Passed per call rather than through a client interceptor: an interceptor costs ~70 us
    of CPU per call on this machine, a fifth of a small call's whole cost.
    """
    request_id = current_request_id()
    return ((REQUEST_ID_HEADER, request_id),) if request_id else None


def open_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


def field_errors(error: grpc.aio.AioRpcError) -> list[FieldError]:
    """The per-field reasons of an INVALID_ARGUMENT, when the server sent them."""
    status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
    found: list[FieldError] = []
    if status is None:
        return found
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            found.extend(FieldError(v.field, v.description) for v in bad_request.field_violations)
    return found
