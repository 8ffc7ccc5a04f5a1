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


class ScriptedCampaign(campaign_pb2_grpc.CampaignServiceServicer):
    """campaign's Confirm and MarkSent as delivery calls them, answered the way a test says.

    - ``answers[send_id]`` (a ConfirmResponse) answers Confirm for that send; else ``decide(send_id)``
      when set; else ``default`` (go, an email to ``<send_id>@example.com``).
    - ``down = True`` answers every call UNAVAILABLE (campaign unreachable); ``marks_down`` only MarkSent.
    - Every Confirm asked is in ``confirms``; every MarkSent acknowledged is in ``marks`` (repeats
      included), the latest per send in ``latest``; ``refused`` counts calls answered UNAVAILABLE.
    """

    def __init__(self, *, default: campaign_pb2.ConfirmResponse | None = None, decide=None) -> None:
        self.answers: dict[str, campaign_pb2.ConfirmResponse] = {}
        self.default = default
        self.decide = decide
        self.down = False
        self.marks_down = False
        self.confirms: list[str] = []
        self.marks: list[campaign_pb2.MarkSentRequest] = []
        self.latest: dict[str, campaign_pb2.MarkSentRequest] = {}
        self.refused = 0
        self.changed = asyncio.Event()

    @staticmethod
    def go(send_id: str = "", *, channel: str = "email", addresses=None, timezone: str = "", **message) -> campaign_pb2.ConfirmResponse:
        """A go answer: the message (subject, body, ...) to each address ((kind, value) pairs)."""
        if addresses is None:
            addresses = [("email", f"{send_id or 'someone'}@example.com")]
        return campaign_pb2.ConfirmResponse(
            go=True,
            message=campaign_pb2.RenderedMessage(channel=channel, **({"subject": "Hello", "body": "Hi there"} | message)),
            addresses=[campaign_pb2.Address(kind=kind, value=value) for kind, value in addresses],
            timezone=timezone,
        )

    def answer_for(self, send_id: str) -> campaign_pb2.ConfirmResponse:
        if send_id in self.answers:
            return self.answers[send_id]
        if self.decide is not None:
            return self.decide(send_id)
        if self.default is not None:
            return self.default
        return self.go(send_id)

    async def Confirm(self, request, context):
        if self.down:
            self.refused += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "campaign is down (scripted)")
        self.confirms.append(request.send_id)
        self.changed.set()
        return self.answer_for(request.send_id)

    async def MarkSent(self, request, context):
        if self.down or self.marks_down:
            self.refused += 1
            self.changed.set()
            await context.abort(grpc.StatusCode.UNAVAILABLE, "campaign is down (scripted)")
        self.marks.append(request)
        self.latest[request.send_id] = request
        self.changed.set()
        return campaign_pb2.MarkSentResponse()

    async def OnEvents(self, request, context):
        return campaign_pb2.OnEventsResponse(accepted=len(request.events))

    async def wait_until(self, predicate, timeout: float = 10.0) -> None:
        """Waits until predicate() holds, re-checked after every call this campaign answers."""

        async def reached():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(reached(), timeout)

    def statuses(self) -> dict[str, str]:
        """The latest reported status of each send."""
        return {send_id: mark.status for send_id, mark in self.latest.items()}


async def start_scripted_campaign(address: str = "127.0.0.1:0", **kwargs) -> tuple[grpc.aio.Server, int, ScriptedCampaign]:
    campaign = ScriptedCampaign(**kwargs)
    server, port, health = create_server(
        address, [Registration(campaign_pb2_grpc.add_CampaignServiceServicer_to_server, campaign, CAMPAIGN_SERVICE)]
    )
    await server.start()
    await mark_serving(health, [CAMPAIGN_SERVICE])
    return server, port, campaign
