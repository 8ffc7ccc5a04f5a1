"""A campaign receiver for tests and benchmarks: a real gRPC server implementing campaign's
OnEvents that records what it is handed. Used until (and beside) the real campaign service."""

from __future__ import annotations

import asyncio
import time

import grpc
from herald.campaign.v1 import campaign_pb2, campaign_pb2_grpc
from herald.delivery.v1 import delivery_pb2, delivery_pb2_grpc

from herald_common import access, tls
from herald_common.access import Caller
from herald_common.grpcserver import Registration, create_server, mark_serving
from herald_common.settings import Settings

CAMPAIGN_SERVICE = campaign_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name


def suite_caller(settings: Settings) -> Caller:
    """A test's caller playing every part: each method gets the token its real caller holds (the
    admin token on management calls, the internal token on the calls between services). The
    tokens are the settings' (HERALD_ADMIN_TOKEN / HERALD_INTERNAL_TOKEN, else the data dir's)."""
    return Caller(admin_token=access.admin_token(settings)[0], internal_token=access.internal_token(settings)[0],
                  **tls.client_side(settings))


class AuthorizedStub:
    """A client's stub whose calls carry the client's token and request id (and its deadline),
    for tests calling methods the client has no wrapper for: `AuthorizedStub(client).GetCampaign(r)`."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, method: str):
        call = getattr(self._client.stub, method)

        def invoke(request, **kwargs):
            kwargs.setdefault("metadata", self._client.metadata(method))
            kwargs.setdefault("timeout", self._client.timeout)
            return call(request, **kwargs)

        return invoke


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
        self.forgotten: list[list[str]] = []  # the profile ids of each ForgetProfiles (a privacy deletion)

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

    async def ForgetProfiles(self, request, context):
        self.forgotten.append(list(request.profile_ids))
        return campaign_pb2.ForgetProfilesResponse(deleted=0)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Waits until count distinct events have arrived."""
        async def reached():
            while len(self.seen_ids) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(reached(), timeout)


async def start_recording_campaign(
    address: str = "127.0.0.1:0", *, settings: Settings | None = None, **kwargs
) -> tuple[grpc.aio.Server, int, RecordingCampaign]:
    """With settings, the stand-in asks for tokens as campaign does (OnEvents: the internal one)."""
    receiver = RecordingCampaign(**kwargs)
    server, port, health = create_server(
        address,
        [Registration(campaign_pb2_grpc.add_CampaignServiceServicer_to_server, receiver, CAMPAIGN_SERVICE)],
        settings=settings,
    )
    await server.start()
    await mark_serving(health, [CAMPAIGN_SERVICE])
    return server, port, receiver


class DeliveryStandIn(delivery_pb2_grpc.DeliveryServiceServicer):
    """delivery as identity's DeleteUser calls it: records each ForgetProfiles (`forgotten`)."""

    def __init__(self) -> None:
        self.forgotten: list[list[str]] = []

    async def ForgetProfiles(self, request, context):
        self.forgotten.append(list(request.profile_ids))
        return delivery_pb2.ForgetProfilesResponse(deleted=0)


async def start_delivery_stand_in(
    address: str = "127.0.0.1:0", *, settings: Settings | None = None
) -> tuple[grpc.aio.Server, int, DeliveryStandIn]:
    stand_in = DeliveryStandIn()
    service = delivery_pb2.DESCRIPTOR.services_by_name["DeliveryService"].full_name
    server, port, health = create_server(
        address, [Registration(delivery_pb2_grpc.add_DeliveryServiceServicer_to_server, stand_in, service)],
        settings=settings,
    )
    await server.start()
    await mark_serving(health, [service])
    return server, port, stand_in


class ScriptedCampaign(campaign_pb2_grpc.CampaignServiceServicer):
    """campaign's Confirm and MarkSent as delivery calls them, answered the way a test says.

    - ``answers[send_id]`` (a ConfirmResponse) answers Confirm for that send; else ``decide(send_id)``
      when set; else ``default`` (go, an email to ``<send_id>@example.com``).
    - ``down = True`` answers every call UNAVAILABLE (campaign unreachable); ``marks_down`` only MarkSent.
    - Every Confirm asked is in ``confirms``; every MarkSent acknowledged is in ``marks`` (repeats
      included), the latest per send in ``latest``; ``refused`` counts calls answered UNAVAILABLE.
    - The batch calls (ConfirmBatch, MarkSentBatch) answer each send the same way and record it in
      the same lists; ``confirm_batches`` and ``mark_batches`` keep the size of each batch call.
      ``confirm_errors[send_id]`` ("not_found", "unavailable: ...") answers that send of a
      ConfirmBatch with the error (a single Confirm: NOT_FOUND or UNAVAILABLE); a send id in
      ``unknown`` is one campaign does not know: MarkSentBatch lists it back (MarkSent: NOT_FOUND).
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
        self.confirm_errors: dict[str, str] = {}
        self.unknown: set[str] = set()
        self.confirm_batches: list[int] = []
        self.mark_batches: list[int] = []
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
        error = self.confirm_errors.get(request.send_id)
        if error is not None:
            self.changed.set()
            code = grpc.StatusCode.NOT_FOUND if error == "not_found" else grpc.StatusCode.UNAVAILABLE
            await context.abort(code, error)
        self.confirms.append(request.send_id)
        self.changed.set()
        return self.answer_for(request.send_id)

    async def ConfirmBatch(self, request, context):
        if self.down:
            self.refused += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "campaign is down (scripted)")
        self.confirm_batches.append(len(request.send_ids))
        response = campaign_pb2.ConfirmBatchResponse()
        for send_id in request.send_ids:
            error = self.confirm_errors.get(send_id)
            if error is not None:
                response.results.add(send_id=send_id, error=error)
                continue
            self.confirms.append(send_id)
            response.results.add(send_id=send_id, answer=self.answer_for(send_id))
        self.changed.set()
        return response

    async def MarkSent(self, request, context):
        if self.down or self.marks_down:
            self.refused += 1
            self.changed.set()
            await context.abort(grpc.StatusCode.UNAVAILABLE, "campaign is down (scripted)")
        if request.send_id in self.unknown:
            self.changed.set()
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no send {request.send_id!r}")
        self._mark(request)
        self.changed.set()
        return campaign_pb2.MarkSentResponse()

    async def MarkSentBatch(self, request, context):
        if self.down or self.marks_down:
            self.refused += 1
            self.changed.set()
            await context.abort(grpc.StatusCode.UNAVAILABLE, "campaign is down (scripted)")
        self.mark_batches.append(len(request.reports))
        unknown = []
        for report in request.reports:
            if report.send_id in self.unknown:
                unknown.append(report.send_id)
            else:
                self._mark(report)
        self.changed.set()
        return campaign_pb2.MarkSentBatchResponse(unknown_send_ids=unknown)

    def _mark(self, request: campaign_pb2.MarkSentRequest) -> None:
        self.marks.append(request)
        self.latest[request.send_id] = request

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


async def start_scripted_campaign(
    address: str = "127.0.0.1:0", *, settings: Settings | None = None, **kwargs
) -> tuple[grpc.aio.Server, int, ScriptedCampaign]:
    """With settings, the stand-in asks for tokens as campaign does (Confirm, MarkSent: internal)."""
    campaign = ScriptedCampaign(**kwargs)
    server, port, health = create_server(
        address,
        [Registration(campaign_pb2_grpc.add_CampaignServiceServicer_to_server, campaign, CAMPAIGN_SERVICE)],
        settings=settings,
    )
    await server.start()
    await mark_serving(health, [CAMPAIGN_SERVICE])
    return server, port, campaign
