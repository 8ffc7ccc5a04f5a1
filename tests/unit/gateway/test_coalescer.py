"""Merging concurrent batched calls: fewer calls under load, each request gets its own results."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from herald.ingest.v1 import ingest_pb2
from herald_services.gateway.coalescer import Coalescer

RECORDED = ingest_pb2.RecordResult.OUTCOME_RECORDED
REJECTED = ingest_pb2.RecordResult.OUTCOME_REJECTED


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class FakeIngest:
    """Answers Record after a release, so tests decide what is in flight."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self.refuse_message_id: str | None = None
        self.unavailable = False

    async def record(self, request: ingest_pb2.RecordRequest) -> ingest_pb2.RecordResponse:
        ids = [e.message_id for e in request.events]
        self.calls.append(ids)
        await self.gate.wait()
        if self.unavailable:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, "down")
        if self.refuse_message_id in ids:
            raise rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad event")
        return ingest_pb2.RecordResponse(
            results=[
                ingest_pb2.RecordResult(outcome=REJECTED if i.startswith("x") else RECORDED, event_id=i) for i in ids
            ]
        )


def request(*message_ids: str, workspace_id: str = "ws") -> ingest_pb2.RecordRequest:
    return ingest_pb2.RecordRequest(
        workspace_id=workspace_id, events=[ingest_pb2.IncomingEvent(message_id=m) for m in message_ids]
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def outcomes(results) -> list[tuple[str, int]]:
    return [(r.event_id, r.outcome) for r in results]


async def test_one_request_at_a_time_is_one_call_each():
    ingest = FakeIngest()
    ingest.gate.set()
    coalescer = Coalescer(ingest.record, items="events", results="results", parallel=1)
    first = await coalescer.call(request("a", "b"))
    second = await coalescer.call(request("c"))
    assert ingest.calls == [["a", "b"], ["c"]]
    assert outcomes(first) == [("a", RECORDED), ("b", RECORDED)]
    assert outcomes(second) == [("c", RECORDED)]


async def test_requests_queued_behind_a_call_in_flight_share_the_next_call_in_order():
    ingest = FakeIngest()
    coalescer = Coalescer(ingest.record, items="events", results="results", parallel=1)
    first = asyncio.create_task(coalescer.call(request("a")))
    await settle()
    queued = [asyncio.create_task(coalescer.call(request(f"b{i}", f"x{i}"))) for i in range(3)]
    await settle()
    ingest.gate.set()
    results = await asyncio.gather(first, *queued)
    assert ingest.calls == [["a"], ["b0", "x0", "b1", "x1", "b2", "x2"]]
    assert outcomes(results[0]) == [("a", RECORDED)]
    for i, result in enumerate(results[1:]):
        assert outcomes(result) == [(f"b{i}", RECORDED), (f"x{i}", REJECTED)]
    assert coalescer.calls_sent == 2


async def test_requests_of_different_workspaces_are_never_merged():
    ingest = FakeIngest()
    coalescer = Coalescer(ingest.record, items="events", results="results", parallel=1)
    first = asyncio.create_task(coalescer.call(request("a")))
    await settle()
    others = [
        asyncio.create_task(coalescer.call(request("b", workspace_id="ws"))),
        asyncio.create_task(coalescer.call(request("c", workspace_id="other"))),
        asyncio.create_task(coalescer.call(request("d", workspace_id="ws"))),
    ]
    await settle()
    ingest.gate.set()
    await asyncio.gather(first, *others)
    assert ingest.calls == [["a"], ["b", "d"], ["c"]]


async def test_merged_call_never_exceeds_max_items():
    ingest = FakeIngest()
    coalescer = Coalescer(ingest.record, items="events", results="results", parallel=1, max_items=4)
    first = asyncio.create_task(coalescer.call(request("a")))
    await settle()
    queued = [asyncio.create_task(coalescer.call(request(f"{i}1", f"{i}2"))) for i in range(3)]
    await settle()
    ingest.gate.set()
    await asyncio.gather(first, *queued)
    assert [len(call) for call in ingest.calls] == [1, 4, 2]


async def test_merged_call_refused_as_invalid_is_sent_apart_so_only_the_culprit_fails():
    ingest = FakeIngest()
    ingest.refuse_message_id = "poison"
    coalescer = Coalescer(ingest.record, items="events", results="results", parallel=1)
    first = asyncio.create_task(coalescer.call(request("a")))
    await settle()
    good = asyncio.create_task(coalescer.call(request("g")))
    bad = asyncio.create_task(coalescer.call(request("poison")))
    await settle()
    ingest.gate.set()
    await first
    assert outcomes(await good) == [("g", RECORDED)]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await bad
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ingest.calls == [["a"], ["g", "poison"], ["g"], ["poison"]]


async def test_unavailable_fails_every_request_of_the_call():
    ingest = FakeIngest()
    ingest.unavailable = True
    coalescer = Coalescer(ingest.record, items="events", results="results", parallel=1)
    first = asyncio.create_task(coalescer.call(request("a")))
    await settle()
    queued = [asyncio.create_task(coalescer.call(request(m))) for m in ("b", "c")]
    await settle()
    ingest.gate.set()
    for task in (first, *queued):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await task
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(ingest.calls) == 2


async def test_up_to_parallel_calls_run_at_once_before_anything_waits():
    ingest = FakeIngest()
    coalescer = Coalescer(ingest.record, items="events", results="results", parallel=2)
    tasks = [asyncio.create_task(coalescer.call(request(m))) for m in ("a", "b", "c", "d")]
    await settle()
    assert ingest.calls == [["a"], ["b"]]
    ingest.gate.set()
    await asyncio.gather(*tasks)
    assert ingest.calls == [["a"], ["b"], ["c", "d"]]


async def test_response_without_results_gives_empty_lists():
    async def group(request):
        return object()

    coalescer = Coalescer(group, items="events", results=None)
    assert await coalescer.call(request("a")) == []
