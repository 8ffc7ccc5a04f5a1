"""Every failure the CLI reports is one line on standard error; these build that line."""

from __future__ import annotations

import grpc
from pydantic import ValidationError

# gRPC core's own words when the connection itself failed, as opposed to a server's UNAVAILABLE.
_TRANSPORT_MARKERS = (
    "failed to connect",
    "errors resolving",
    "connections to all backends failing",
    "socket closed",
    "connection reset",
    "connection refused",
    "broken pipe",
    "endpoint closing",
)


class CliError(Exception):
    """A failure to report as `herald: <message>` with a non-zero exit."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def describe_rpc_error(error: grpc.aio.AioRpcError, *, service: str, address: str, timeout: float) -> str:
    """One line that says why a call to service failed, without gRPC's debug noise."""
    code = error.code()
    details = (error.details() or "").strip()
    if code == grpc.StatusCode.UNAVAILABLE:
        if not details or any(marker in details.lower() for marker in _TRANSPORT_MARKERS):
            return f"cannot reach {service} at {address} (is `herald up` running?)"
        return f"{service} is unavailable: {details}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{service} at {address} did not answer within {timeout:g}s"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return (f"{service} at {address} refused the call: {details or 'no token'}. The CLI sends HERALD_ADMIN_TOKEN, "
                "else the admin_token file in HERALD_DATA_DIR (./var): run it with the suite's data dir or token")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return f"{service} at {address} does not answer this call (is another program on that port?)"
    if code in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
    ):
        return details or f"{service} refused the call ({code.name})"
    return f"{service} failed ({code.name}): {details or 'no details'}"


def describe_settings_error(error: ValidationError) -> str:
    """The environment's first bad variable, as one line."""
    problems = []
    for item in error.errors():
        message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        field = ".".join(str(part) for part in item.get("loc", ()))
        variable = f"HERALD_{field.upper()}"
        problems.append(message if variable in message else f"{variable}: {message}")
    return "invalid settings: " + "; ".join(problems)
