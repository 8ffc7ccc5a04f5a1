"""The gateway's calls out: write key -> workspace, and a plan's fan-out to identity and ingest.

One request becomes at most one Identify, one Alias and one Group call to identity, and one Record
call to ingest. When an event for ingest names a user (user id or anonymous id) that one of the
request's identity calls names too, identity goes first, so a track in the same batch as its
identify is recorded against the identified profile. When they share no id, as in a server-side
batch of many users' calls, nothing orders them and both go at once: the request then waits for
the slower of the two rather than for their sum. Under load, concurrent requests share calls (see
coalescer.py), so there are fewer calls than requests, never more. gRPC failures become the typed
errors below, which the HTTP layer turns into status codes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from herald.ingest.v1 import ingest_pb2
from herald_common.clients import IdentityClient, IngestClient
from herald_common.logs import get_logger
from herald_services.gateway.coalescer import Coalescer
from herald_services.gateway.domain import FieldWarning, InflightGate, Plan, Rejection

log = get_logger(__name__)

# Codes after which the same request may well succeed later: the client should retry it.
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)
REJECTED = ingest_pb2.RecordResult.OUTCOME_REJECTED


class Overloaded(Exception):
    """More events are waiting on identity and ingest than the gateway lets wait."""


class DownstreamUnavailable(Exception):
    """identity or ingest cannot take the request now; a retry later may succeed."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} is unavailable: {detail}")
        self.service = service
        self.detail = detail


class DownstreamRefused(Exception):
    """identity or ingest refused the request as invalid; a retry would fail the same way."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} refused the request: {detail}")
        self.service = service
        self.detail = detail


class DownstreamFailed(Exception):
    """identity or ingest failed in a way the gateway does not know; logged with its detail."""

    def __init__(self, service: str, code: str, detail: str) -> None:
        super().__init__(f"{service} failed ({code}): {detail}")
        self.service = service


class UnknownWorkspace(Exception):
    """The workspace of a cached write key is gone."""


def translate(error: grpc.aio.AioRpcError, service: str) -> Exception:
    code = error.code()
    detail = error.details() or code.name
    if code in RETRYABLE_CODES:
        log.warning("downstream_unavailable", downstream=service, code=code.name, detail=detail)
        return DownstreamUnavailable(service, detail)
    if code == grpc.StatusCode.NOT_FOUND:
        return UnknownWorkspace(detail)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE):
        log.warning("downstream_refused", downstream=service, code=code.name, detail=detail)
        return DownstreamRefused(service, detail)
    log.error("downstream_failed", downstream=service, code=code.name, detail=detail)
    return DownstreamFailed(service, code.name, detail)


# ---- write keys -----------------------------------------------------------------------------


def identity_lookup(identity: IdentityClient) -> Callable[[str], Awaitable[str | None]]:
    """Write key -> workspace id through identity; None for a key identity does not know."""

    async def lookup(write_key: str) -> str | None:
        try:
            workspace = await identity.workspace_by_write_key(write_key)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise translate(error, "identity") from None
        return workspace.id

    return lookup


class WorkspaceDirectory:
    """Caches write key -> workspace: known keys for a minute, unknown ones for a few seconds.

    Concurrent requests with the same uncached key share one lookup.
    """

    def __init__(
        self,
        lookup: Callable[[str], Awaitable[str | None]],
        *,
        known_ttl: float = 60.0,
        unknown_ttl: float = 5.0,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._known_ttl = known_ttl
        self._unknown_ttl = unknown_ttl
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._pending: dict[str, asyncio.Future[str | None]] = {}

    async def workspace_for(self, write_key: str) -> str | None:
        entry = self._cache.get(write_key)
        if entry is not None and entry[1] > self._monotonic():
            return entry[0]
        pending = self._pending.get(write_key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(write_key))
            self._pending[write_key] = pending
            pending.add_done_callback(lambda _done: self._pending.pop(write_key, None))
        return await asyncio.shield(pending)

    def forget(self, write_key: str) -> None:
        self._cache.pop(write_key, None)

    async def _fetch(self, write_key: str) -> str | None:
        workspace_id = await self._lookup(write_key)
        now = self._monotonic()
        if len(self._cache) >= self._max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
        ttl = self._known_ttl if workspace_id else self._unknown_ttl
        self._cache[write_key] = (workspace_id, now + ttl)
        return workspace_id


# ---- the fan-out ----------------------------------------------------------------------------


@dataclass
class Outcome:
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[FieldWarning] = field(default_factory=list)


class Forwarder:
    def __init__(
        self, *, identity: IdentityClient, ingest: IngestClient, gate: InflightGate, parallel_calls: int = 4
    ) -> None:
        self.gate = gate
        self.identify = Coalescer(identity.identify, items="calls", results="results", parallel=parallel_calls)
        self.alias = Coalescer(identity.alias, items="calls", results="results", parallel=parallel_calls)
        self.group = Coalescer(identity.group, items="calls", results=None, parallel=parallel_calls)
        self.record = Coalescer(ingest.record, items="events", results="results", parallel=parallel_calls)

    async def forward(self, workspace_id: str, plan: Plan, *, weight: int = 0) -> Outcome:
        """Sends the plan's calls; raises Overloaded before sending anything when over the limit."""
        outcome = Outcome(list(plan.rejected), list(plan.warnings))
        kept = plan.kept
        if not kept:
            return outcome
        if not self.gate.try_admit(kept):
            raise Overloaded()
        plan.for_workspace(workspace_id)
        try:
            await self._send(plan, outcome, weight)
        finally:
            self.gate.release(kept)
        return outcome

    async def _send(self, plan: Plan, outcome: Outcome, weight: int) -> None:
        to_identity = plan.identify_index or plan.alias_index or plan.group_index
        if not (to_identity and plan.record_index) or plan.record_waits_for_identity:
            await self._to_identity(plan, outcome, weight)
            await self._to_ingest(plan, outcome, weight)
            return
        failures = [
            result
            for result in await asyncio.gather(
                self._to_identity(plan, outcome, weight), self._to_ingest(plan, outcome, weight), return_exceptions=True
            )
            if isinstance(result, BaseException)
        ]
        if failures:
            raise failures[0]

    async def _to_identity(self, plan: Plan, outcome: Outcome, weight: int) -> None:
        try:
            if plan.identify_index:
                results = await self.identify.call(plan.identify, weight=weight)
                for index, result in zip(plan.identify_index, results):
                    outcome.warnings.extend(FieldWarning(index, r.field, r.reason) for r in result.rejected)
            if plan.alias_index:
                await self.alias.call(plan.alias, weight=weight)
            if plan.group_index:
                await self.group.call(plan.group, weight=weight)
        except grpc.aio.AioRpcError as error:
            raise translate(error, "identity") from None

    async def _to_ingest(self, plan: Plan, outcome: Outcome, weight: int) -> None:
        if not plan.record_index:
            return
        try:
            results = await self.record.call(plan.record, weight=weight)
        except grpc.aio.AioRpcError as error:
            raise translate(error, "ingest") from None
        for index, result in zip(plan.record_index, results):
            if result.outcome == REJECTED:
                outcome.rejected.append(Rejection(index, result.reason or "refused by ingest"))
            elif result.warning:
                outcome.warnings.append(FieldWarning(index, result.warning_field, result.warning))
