"""Merges concurrent batched RPCs of one method into fewer, larger calls.

Every gRPC call costs the gateway (and the service it calls) a fixed few hundred microseconds of
CPU, whatever its size, and each Record call also costs ingest a Resolve call to identity and a
database commit. Under load many HTTP requests are waiting at once, so the gateway sends at most
`parallel` calls of a method at a time and merges the requests that queue up meanwhile (same
workspace, arrival order kept) into the next call, then hands each request its own slice of the
results. With one request at a time nothing waits and nothing is merged: one HTTP batch is still
exactly one call.

If a merged call is refused as invalid, its requests are sent again one by one, so only the
request that caused it fails. Retryable failures (UNAVAILABLE, deadline) fail every request in
the call: each client retries its own batch, and ingest's messageId deduplication keeps that safe.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from herald_common.logs import get_logger

log = get_logger(__name__)

# Failures that a smaller call would not avoid.
_SHARED_FAILURES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.NOT_FOUND,
    }
)


@dataclass(slots=True)
class _Waiting:
    request: Any
    size: int
    weight: int
    future: asyncio.Future
    context: contextvars.Context


class Coalescer:
    """One per batched RPC method (Identify, Alias, Group, Record).

    `items` names the request's repeated field (`calls` or `events`); `results` the response's
    repeated field with one entry per item, or None when the response has none.
    """

    def __init__(
        self,
        send: Callable[[Any], Awaitable[Any]],
        *,
        items: str,
        results: str | None,
        parallel: int = 2,
        max_items: int = 5000,
        max_weight: int = 8 * 1024 * 1024,
    ) -> None:
        self._send = send
        self._items = items
        self._results = results
        self._parallel = parallel
        self._max_items = max_items
        self._max_weight = max_weight
        self._queue: list[_Waiting] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task] = set()
        self.calls_sent = 0

    async def call(self, request: Any, *, weight: int = 0) -> list[Any]:
        """Sends request's items (possibly together with others'); returns this request's results."""
        future = asyncio.get_running_loop().create_future()
        size = len(getattr(request, self._items))
        self._queue.append(_Waiting(request, size, weight, future, contextvars.copy_context()))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._queue and self._in_flight < self._parallel:
            group = self._take_group()
            self._in_flight += 1
            # The call carries the first request's context, so its request id goes along in metadata.
            task = asyncio.create_task(self._run(group), context=group[0].context)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take_group(self) -> list[_Waiting]:
        first = self._queue[0]
        workspace_id = first.request.workspace_id
        group, rest = [first], []
        items, weight = first.size, first.weight
        for waiting in self._queue[1:]:
            if (
                waiting.request.workspace_id == workspace_id
                and items + waiting.size <= self._max_items
                and weight + waiting.weight <= self._max_weight
            ):
                group.append(waiting)
                items += waiting.size
                weight += waiting.weight
            else:
                rest.append(waiting)
        self._queue = rest
        return group

    async def _run(self, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:
                await self._send_alone(group[0])
            else:
                await self._send_merged(group)
        except asyncio.CancelledError:
            for waiting in group:
                waiting.future.cancel()
            raise
        finally:
            self._in_flight -= 1
            self._pump()

    async def _send_alone(self, waiting: _Waiting) -> None:
        try:
            self.calls_sent += 1
            response = await self._send(waiting.request)
        except Exception as error:
            _fail(waiting.future, error)
            return
        _resolve(waiting.future, list(getattr(response, self._results)) if self._results else [])

    async def _send_merged(self, group: list[_Waiting]) -> None:
        merged = type(group[0].request)(workspace_id=group[0].request.workspace_id)
        items = getattr(merged, self._items)
        for waiting in group:
            items.extend(getattr(waiting.request, self._items))
        log.debug("calls_merged", requests=len(group), items=len(items))
        try:
            self.calls_sent += 1
            response = await self._send(merged)
        except grpc.aio.AioRpcError as error:
            if error.code() in _SHARED_FAILURES:
                for waiting in group:
                    _fail(waiting.future, error)
                return
            log.info("merged_call_refused_sending_apart", code=error.code().name, requests=len(group))
            for waiting in group:
                await self._send_alone(waiting)
            return
        except Exception as error:
            for waiting in group:
                _fail(waiting.future, error)
            return
        results = list(getattr(response, self._results)) if self._results else []
        start = 0
        for waiting in group:
            _resolve(waiting.future, results[start : start + waiting.size] if self._results else [])
            start += waiting.size


def _resolve(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
