"""The console's way into the suite: herald_common's clients, and what a failed call means to a page.

The console owns no data. Every page reads and changes things through these clients (the same
RPCs the CLI calls), and a failed call becomes one of two typed errors the app renders as a
page: `ServiceDown` (which service, at which address) or `NotFound` (what was not found).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from herald_common.access import Caller
from herald_common.clients import CampaignClient, DeliveryClient, IdentityClient, IngestClient
from herald_common.grpcclient import field_errors
from herald_common.settings import Settings

T = TypeVar("T")

# gRPC codes that mean "the service is not there (or not answering)", not "it said no".
_DOWN_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED)


class ServiceDown(Exception):
    """A service did not answer: the page says which one."""

    def __init__(self, service: str, address: str, reason: str) -> None:
        super().__init__(f"{service} at {address}: {reason}")
        self.service = service
        self.address = address
        self.reason = reason


class NotFound(Exception):
    """What the page was asked for does not exist: `what` says it in words ("user u1")."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.detail = detail


class Refused(Exception):
    """The service refused the input (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS);
    `fields` maps each refused field to its reason, as the service named them."""

    def __init__(self, service: str, code: grpc.StatusCode, details: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(details)
        self.service = service
        self.code = code
        self.details = details
        self.fields = fields or {}


class ServiceFailed(Exception):
    """Any other failure of a service (INTERNAL, PERMISSION_DENIED, ...)."""

    def __init__(self, service: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{service}: {code.name}: {details}")
        self.service = service
        self.code = code
        self.details = details


@dataclass
class Backend:
    """The four services' clients, each with a deadline on every call."""

    identity: IdentityClient
    ingest: IngestClient
    campaign: CampaignClient
    delivery: DeliveryClient

    @classmethod
    def from_settings(cls, settings: Settings) -> Backend:
        """The console calls as a management caller: with the admin token."""
        timeout = settings.rpc_timeout_seconds
        caller = Caller.admin(settings)
        return cls(
            identity=IdentityClient(settings.identity_address, timeout, caller=caller),
            ingest=IngestClient(settings.ingest_address, timeout, caller=caller),
            campaign=CampaignClient(settings.campaign_address, timeout, caller=caller),
            delivery=DeliveryClient(settings.delivery_address, timeout, caller=caller),
        )

    async def close(self) -> None:
        for client in (self.identity, self.ingest, self.campaign, self.delivery):
            await client.close()

    async def workspaces(self) -> list[tuple[str, str]]:
        """(id, name) of every workspace, for the switcher."""
        found = await self.call("identity", self.identity.list_workspaces())
        return [(w.id, w.name) for w in found]

    def address_of(self, service: str) -> str:
        return getattr(self, service).address

    async def call(self, service: str, pending: Awaitable[T], *, not_found: str | None = None) -> T:
        """Awaits one RPC of `service`; a gRPC failure becomes ServiceDown, NotFound, Refused or
        ServiceFailed. `not_found` names the thing asked for ("event [Segment] Signed Up")."""
        try:
            return await pending
        except grpc.aio.AioRpcError as error:
            raise translate(error, service=service, address=self.address_of(service), not_found=not_found) from None


def translate(error: grpc.aio.AioRpcError, *, service: str, address: str, not_found: str | None) -> Exception:
    code = error.code()
    details = (error.details() or "").strip()
    if code in _DOWN_CODES:
        reason = {
            grpc.StatusCode.UNAVAILABLE: "not reachable",
            grpc.StatusCode.DEADLINE_EXCEEDED: "did not answer in time",
            grpc.StatusCode.UNIMPLEMENTED: "does not answer this call (another program on its port, or an older version)",
        }[code]
        return ServiceDown(service, address, reason)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(not_found or f"what {service} was asked for", details)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS):
        return Refused(service, code, details, field_violations(error))
    return ServiceFailed(service, code, details)


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The google.rpc.BadRequest a service attaches to INVALID_ARGUMENT, as {field: reason}."""
    found: dict[str, str] = {}
    for item in field_errors(error):
        found.setdefault(item.field, item.reason)
    return found
