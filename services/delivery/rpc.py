"""delivery's servicer: proto <-> handlers, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from herald.delivery.v1 import delivery_pb2, delivery_pb2_grpc
from herald_common.aio import GroupCommit, read_in, write_in
from herald_common.clock import Clock
from herald_common.errors import FieldError, InvalidArgument
from herald_common.protoconv import set_timestamp, to_datetime
from herald_common.settings import Settings
import orjson
from herald_common.logs import get_logger
from herald_services.delivery import explain as explaining
from herald_services.delivery import handlers
from herald_services.delivery.dispatcher import Dispatcher
from herald_services.delivery.domain import DeliveryWindow, TimingRefused
from herald_services.delivery.providers.base import CHANNELS
from herald_common.steps import StepLog
from herald_services.delivery.store import (
    CANCELLED,
    CLAIMED,
    FAILED,
    HELD,
    SCHEDULED,
    SENDING,
    SENT,
    STEP,
    SUPPRESSED,
    UNKNOWN,
)
from sqlalchemy import Engine

# What the CLI and campaign read: a held send (its campaign paused) and one being confirmed
# are still scheduled to them.
EXTERNAL_STATUS = {HELD: SCHEDULED, CLAIMED: SCHEDULED}
# A status as ListSends is asked for it -> the statuses of the table it stands for.
INTERNAL_STATUSES = {
    SCHEDULED: (SCHEDULED, HELD, CLAIMED), SENDING: (SENDING,), SENT: (SENT,), FAILED: (FAILED,),
    SUPPRESSED: (SUPPRESSED,), CANCELLED: (CANCELLED,), UNKNOWN: (UNKNOWN,),
}
log = get_logger(__name__)
LIST_LIMIT = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_LIST_LIMIT = 10_000


class DeliveryServicer(delivery_pb2_grpc.DeliveryServiceServicer):
    def __init__(self, *, engine: Engine, runner, clock: Clock, settings: Settings, dispatcher: Dispatcher) -> None:
        self.engine = engine
        self.runner = runner
        self.clock = clock
        self.settings = settings
        self.dispatcher = dispatcher
        self.scheduler = GroupCommit(runner, self._schedule_groups)

    def _schedule_groups(self, items: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        with self.engine.begin() as connection:
            steps = StepLog(self.settings.explain)
            kept = [handlers.schedule(connection, rows, steps=steps) for rows in items]
            steps.write(connection, STEP)
            return kept

    async def _read(self, handler, **kwargs):
        return await read_in(self.runner, self.engine, handler, **kwargs)

    async def _write(self, handler, **kwargs):
        return await write_in(self.runner, self.engine, handler, **kwargs)

    async def Schedule(self, request, context):
        now = self.clock.now()
        rows, errors = [], []
        for index, send in enumerate(request.sends):
            try:
                new = _new_send(send, now)
            except InvalidArgument as refused:
                errors.extend(FieldError(f"sends[{index}].{e.field}", e.reason) for e in refused.errors)
                continue
            rows.append(handlers.plan(new, default_timezone=self.settings.default_timezone, now=now))
        if errors:
            raise InvalidArgument(errors=errors)
        kept = await self.scheduler.submit(rows) if rows else []
        self.dispatcher.scheduled(min((r["wake_at"] for r in kept if r["status"] == SCHEDULED and r["wake_at"]), default=None))
        response = delivery_pb2.ScheduleResponse()
        for row in kept:
            send_message(response.sends.add(), row)
        return response

    async def Cancel(self, request, context):
        target = request.WhichOneof("target")
        if target is None or not getattr(request, target):
            raise InvalidArgument(errors=[FieldError("target", "give one of send_id, campaign_id, profile_id")])
        reports = await self._write(
            handlers.cancel,
            send_id=request.send_id,
            campaign_id=request.campaign_id,
            profile_id=request.profile_id,
            reason=request.reason,
            now=self.clock.now(),
            explain=self.settings.explain,
        )
        self.dispatcher.reports.hand_over(reports)
        return delivery_pb2.CancelResponse(cancelled=len(reports))

    async def CancelSends(self, request, context):
        if not request.send_ids:
            raise InvalidArgument(errors=[FieldError("send_ids", "name at least one send")])
        if any(not send_id for send_id in request.send_ids):
            raise InvalidArgument(errors=[FieldError("send_ids", "a send id is empty")])
        reports = await self._write(handlers.cancel, send_ids=list(request.send_ids), reason=request.reason,
                                    now=self.clock.now(), explain=self.settings.explain)
        self.dispatcher.reports.hand_over(reports)
        return delivery_pb2.CancelResponse(cancelled=len(reports))

    async def GetSend(self, request, context):
        _require(send_id=request.send_id)
        row = await self._read(handlers.get_send, send_id=request.send_id, workspace_id=request.workspace_id)
        return send_message(delivery_pb2.ScheduledSend(), row)

    async def ListSends(self, request, context):
        if request.limit < 0:
            raise InvalidArgument(errors=[FieldError("limit", "must not be negative")])
        if request.channel and request.channel not in CHANNELS:
            raise InvalidArgument(errors=[FieldError("channel", f"{request.channel!r} is not one of {', '.join(CHANNELS)}")])
        statuses: tuple[str, ...] = ()
        if request.status:
            statuses = INTERNAL_STATUSES.get(request.status, ())
            if not statuses:
                raise InvalidArgument(errors=[FieldError(
                    "status", f"{request.status!r} is not one of {', '.join(INTERNAL_STATUSES)}")])
        limit = min(request.limit or LIST_LIMIT, MAX_LIST_LIMIT)
        rows = await self._read(
            handlers.list_sends,
            workspace_id=request.workspace_id,
            campaign_id=request.campaign_id,
            profile_id=request.profile_id,
            limit=limit + 1,
            statuses=statuses,
            channel=request.channel,
            before=parse_send_cursor(request.before) if request.before else None,
        )
        response = delivery_pb2.ListSendsResponse()
        for row in rows[:limit]:
            send_message(response.sends.add(), row)
        if len(rows) > limit:
            response.next_before = send_cursor(rows[limit - 1])
        return response

    async def Release(self, request, context):
        _require(campaign_id=request.campaign_id)
        released, reports, first = await self._write(
            handlers.release,
            campaign_id=request.campaign_id,
            now=self.clock.now(),
            per_second=self.settings.release_per_second,
            stale_after=timedelta(seconds=self.settings.stale_after_seconds),
            explain=self.settings.explain,
        )
        self.dispatcher.reports.hand_over(reports)
        self.dispatcher.scheduled(first)
        return delivery_pb2.ReleaseResponse(released=released, stale=len(reports))

    async def Explain(self, request, context):
        if not request.profile_ids:
            raise InvalidArgument(errors=[FieldError("profile_ids", "name at least one profile (identity's, of the user)")])
        _require(workspace_id=request.workspace_id)
        steps = await self._read(explaining.user_steps, workspace_id=request.workspace_id,
                                 profile_ids=list(request.profile_ids), send_ids=list(request.send_ids),
                                 campaign_id=request.campaign_id)
        response = delivery_pb2.ExplainResponse()
        for step in steps:
            item = response.steps.add(step=step.step, outcome=step.outcome, detail_json=orjson.dumps(step.detail),
                                      send_id=step.send_id, campaign_id=step.campaign_id)
            set_timestamp(item.at, step.at)
        return response

    async def ForgetProfiles(self, request, context):
        if not request.profile_ids:
            raise InvalidArgument(errors=[FieldError("profile_ids", "name at least one profile")])
        _require(workspace_id=request.workspace_id)
        deleted = await self._write(explaining.forget_profiles, workspace_id=request.workspace_id,
                                    profile_ids=list(request.profile_ids))
        log.info("delivery_steps_forgotten", profiles=len(request.profile_ids), rows=deleted)
        return delivery_pb2.ForgetProfilesResponse(deleted=deleted)


def _require(**fields: str) -> None:
    missing = [FieldError(name, "is required") for name, value in fields.items() if not value]
    if missing:
        raise InvalidArgument(errors=missing)


def _new_send(send: delivery_pb2.ScheduledSend, now) -> handlers.NewSend:
    errors = [FieldError(name, "is required") for name in ("id", "workspace_id", "campaign_id", "channel") if not getattr(send, name)]
    if send.channel and send.channel not in CHANNELS:
        errors.append(FieldError("channel", f"{send.channel!r} is not one of {', '.join(CHANNELS)}"))
    if send.delay_seconds < 0 or send.settle_seconds < 0:
        errors.append(FieldError("delay_seconds" if send.delay_seconds < 0 else "settle_seconds", "cannot be negative"))
    window = None
    if send.HasField("window") and (send.window.start or send.window.end or send.window.days):
        try:
            window = DeliveryWindow.from_spec(days=list(send.window.days) or None, start=send.window.start, end=send.window.end)
        except TimingRefused as refused:
            errors.append(FieldError(f"window.{refused.field}", refused.reason))
    if errors:
        raise InvalidArgument(errors=errors)
    return handlers.NewSend(
        id=send.id,
        workspace_id=send.workspace_id,
        campaign_id=send.campaign_id,
        profile_id=send.profile_id,
        user_id=send.user_id,
        channel=send.channel,
        trigger_at=to_datetime(send.trigger_at, now),
        delay_seconds=send.delay_seconds,
        settle_seconds=send.settle_seconds,
        window=window,
        fallback_timezone=send.window.fallback_timezone if send.HasField("window") else "",
        timezone=send.timezone,
    )


def send_message(message: delivery_pb2.ScheduledSend, row: dict[str, Any]) -> delivery_pb2.ScheduledSend:
    """Fills a ScheduledSend from a send row."""
    message.id = row["id"]
    message.workspace_id = row["workspace_id"]
    message.campaign_id = row["campaign_id"]
    message.profile_id = row["profile_id"]
    message.user_id = row["user_id"] or ""
    message.channel = row["channel"]
    set_timestamp(message.trigger_at, row["trigger_at"])
    message.delay_seconds = row["delay_seconds"]
    message.settle_seconds = row["settle_seconds"]
    window = handlers.window_of(row["window"])
    if window is not None or row["fallback_timezone"]:
        spec = window.to_spec() if window is not None else {"days": [], "start": "", "end": ""}
        message.window.days.extend(spec["days"])
        message.window.start = spec["start"]
        message.window.end = spec["end"]
        message.window.fallback_timezone = row["fallback_timezone"] or ""
    message.timezone = row["timezone"] or ""
    set_timestamp(message.due_at, row["due_at"])
    message.status = EXTERNAL_STATUS.get(row["status"], row["status"])
    message.outcome = row["outcome"] or ""
    set_timestamp(message.sent_at, row["sent_at"])
    message.attempts = row["attempts"]
    set_timestamp(message.created_at, row["created_at"])
    return message


def send_cursor(row: dict[str, Any]) -> str:
    """Where the next page starts: after this send's creation time (microseconds) and id."""
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return f"{(created - _EPOCH) // timedelta(microseconds=1)}.{row['id']}"


def parse_send_cursor(text: str) -> tuple[datetime, str]:
    try:
        micros, send_id = text.split(".", 1)
        return _EPOCH + timedelta(microseconds=int(micros)), send_id
    except (ValueError, OverflowError):
        raise InvalidArgument(errors=[FieldError("before", f"{text!r} is not a cursor this service gave")]) from None
