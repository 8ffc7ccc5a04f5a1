"""A campaign receiver for tests and benchmarks: a real gRPC server implementing campaign's
OnEvents that records what it is handed. Used until (and beside) the real campaign service."""

from __future__ import annotations

import asyncio
import time

import grpc
from herald.campaign.v1 import campaign_pb2, campaign_pb2_grpc

from herald_common.grpcserver import Registration, create_server, mark_serving

CAMPAIGN_SERVICE = campaign_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name


class RecordingCampaign(campaign_pb2_grpc.CampaignServiceServicer):
    def __init__(self, *, keep_events: bool = True, delay: float = 0.0) -> None:
        self.keep_events = keep_events
        self.delay = delay
        self.events = []  # every event handed over, repeats included, in arrival order
        self.received = 0
        self.calls = 0
        self.seen_ids: set[str] = set()
        self.repeats = 0
        self.changed = asyncio.Event()
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, distinct events so far)

    async def OnEvents(self, request, context):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.calls += 1
        for event in request.events:
            if event.id in self.seen_ids:
                self.repeats += 1
            else:
                self.seen_ids.add(event.id)
            if self.keep_events:
                self.events.append(event)
        self.received += len(request.events)
        self.arrivals.append((time.monotonic(), len(self.seen_ids)))
        self.changed.set()
        return campaign_pb2.OnEventsResponse(accepted=len(request.events))

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Waits until count distinct events have arrived."""
        async def reached():
            while len(self.seen_ids) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(reached(), timeout)


async def start_recording_campaign(address: str = "127.0.0.1:0", **kwargs) -> tuple[grpc.aio.Server, int, RecordingCampaign]:
    receiver = RecordingCampaign(**kwargs)
    server, port, health = create_server(
        address, [Registration(campaign_pb2_grpc.add_CampaignServiceServicer_to_server, receiver, CAMPAIGN_SERVICE)]
    )
    await server.start()
    await mark_serving(health, [CAMPAIGN_SERVICE])
    return server, port, receiver
